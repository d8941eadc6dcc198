"""Concurrency bench: many 12-MP photos at once against `make serve` (gunicorn) on the local engine.

Run from the repo root with the dev venv:  .venv/bin/python bench/concurrency.py [--clients 12]
It starts the self-hosting server exactly as `make serve` does (gunicorn -c dev/gunicorn_conf.py
dev.selfhost:app, here on a free 127.0.0.1 port, local engine, the machine's default job limit)
and sends --clients denoise requests of a 4000x3000 noisy photo at the same moment. A client
answered 503 `busy` waits the Retry-After it was given and tries again, as the site does. The
server's memory (master and workers, RSS and PSS summed) is sampled twice a second; its JSON log
lines say how long each job waited in the queue. Prints one row per client and PASS when every
client ends with its photo (200, full size), the server's peak memory stays under --max-gb, and no
job waited in the queue longer than the promise (IMGMEND_LOCAL_MAX_WAIT_S); exits 1 otherwise.
Loopback only, bounded: each client gives up after --deadline s, then the server is stopped.
"""

import argparse
import collections
import concurrent.futures
import io
import json
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench.servers import ServerProcess  # noqa: E402
from lib import config  # noqa: E402
from lib.engines.local.admission import default_jobs  # noqa: E402

SIZE = (4000, 3000)


def noisy_photo():
    """A 12 MP phone-like JPEG: scikit-image's astronaut upscaled, Gaussian noise sigma 15, at the
    highest quality that fits the 4 MB upload cap (as the site's own in-browser fitting does)."""
    import skimage.data

    base = Image.fromarray(skimage.data.astronaut()).resize(SIZE, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(0)
    noisy = np.clip(np.asarray(base, np.float32) + rng.normal(0, 15, (SIZE[1], SIZE[0], 3)), 0, 255)
    noisy = Image.fromarray(noisy.astype(np.uint8))
    for quality in range(90, 40, -5):
        buf = io.BytesIO()
        noisy.save(buf, "JPEG", quality=quality)
        if buf.tell() <= config.MAX_BYTES:
            return buf.getvalue()
    raise SystemExit("the test photo does not fit the upload cap")


def client(url, body, deadline_s):
    """One user: POST until a photo comes back, honouring Retry-After; returns its story."""
    story = {"attempts": 0, "busy": 0, "retry_after": [], "status": None, "seconds": None, "size": None}
    started = time.monotonic()
    with httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0), trust_env=False) as http:
        while time.monotonic() - started < deadline_s:
            story["attempts"] += 1
            response = http.post(f"{url}/api/denoise", files={"image": ("phone.jpg", body, "image/jpeg")})
            story["status"] = response.status_code
            if response.status_code == 503 and response.json()["error"]["code"] == "busy":
                story["busy"] += 1
                wait = int(response.headers["Retry-After"])
                story["retry_after"].append(wait)
                time.sleep(wait)
                continue
            if response.status_code == 200:
                story["size"] = Image.open(io.BytesIO(response.content)).size
            break
    story["seconds"] = time.monotonic() - started
    return story


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--max-gb", type=float, default=3.0)
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds a client keeps trying")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in config.SETTINGS and k != "PYTHONPATH"}
    env.update(IMGMEND_ENGINE="local", IMGMEND_SECRET="concurrency-bench-secret",
               FREE_DAILY_LIMIT="1000", RATE_LIMIT_PER_MINUTE="1000", PYTHONUNBUFFERED="1")
    max_wait_s = config.local_max_wait_s()
    body = noisy_photo()
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    server = ServerProcess(
        lambda port: [gunicorn, "-c", "dev/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}", "dev.selfhost:app"], env)
    samples = []
    stop = threading.Event()
    try:
        server.wait_ready()

        def sample():
            while not stop.is_set():
                samples.append(server.memory())
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            stories = list(pool.map(lambda _: client(server.url, body, args.deadline), range(args.clients)))
        elapsed = time.monotonic() - began
        stop.set()
        sampler.join(5)
    finally:
        stop.set()
        server.stop()

    jobs = [json.loads(line) for line in server.lines if line.startswith("{")]
    jobs = [j for j in jobs if j.get("endpoint") == "/api/denoise"]
    queued = [j["queue_ms"] / 1000 for j in jobs if "queue_ms" in j]
    peak_rss = max((r for r, _ in samples), default=0) / 1024**3
    peak_pss = max((p for _, p in samples), default=0) / 1024**3
    print(f"concurrency: {args.clients} clients x {SIZE[0]}x{SIZE[1]} JPEG ({len(body) / 1e6:.2f} MB) to "
          f"`make serve` (gunicorn, local engine, {default_jobs()} jobs at once by default, "
          f"queue {config.local_queue(default_jobs())}, promised wait <= {max_wait_s} s), 2 cores")
    print(f"{'client':>6} {'status':>6} {'attempts':>8} {'busy':>4} {'retry-after s':>14} {'seconds':>8} size")
    for n, s in enumerate(stories, 1):
        waits = ",".join(map(str, s["retry_after"])) or "-"
        print(f"{n:>6} {s['status']:>6} {s['attempts']:>8} {s['busy']:>4} {waits:>14} {s['seconds']:>8.1f} {s['size']}")
    outcomes = collections.Counter(j["status"] for j in jobs)
    print(f"server answers: {dict(sorted(outcomes.items()))}; wall {elapsed:.0f} s; "
          f"client seconds median {statistics.median(s['seconds'] for s in stories):.1f}, max "
          f"{max(s['seconds'] for s in stories):.1f}")
    if queued:
        print(f"queue wait s (jobs that got a slot or were refused after queueing): median "
              f"{statistics.median(queued):.1f}, max {max(queued):.1f} (promise {max_wait_s})")
    print(f"server memory peak: RSS sum {peak_rss:.2f} GB, PSS sum {peak_pss:.2f} GB "
          f"({len(samples)} samples; limit {args.max_gb} GB)")
    failures = []
    if not all(s["status"] == 200 and s["size"] == SIZE for s in stories):
        failures.append("a client did not get its full-size photo")
    if 500 in outcomes or any(code not in (200, 503) for code in outcomes):
        failures.append(f"answers other than 200/503: {dict(outcomes)}")
    if peak_pss > args.max_gb:
        failures.append(f"peak memory {peak_pss:.2f} GB over {args.max_gb} GB")
    if queued and max(queued) > max_wait_s + 1:
        failures.append(f"a job queued {max(queued):.1f} s, past the {max_wait_s} s promise")
    if not queued:
        failures.append("no queue_ms in the server's log lines")
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
