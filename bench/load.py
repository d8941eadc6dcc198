"""Load bench: N concurrent clients against the dev server on the Replicate engine with a 2 s fake model.

Run from the repo root with the dev venv:  .venv/bin/python bench/load.py [--clients 50] [--seconds 60]
It starts the loopback fake Replicate (every prediction takes --latency s, answered through
Prefer: wait) in this process and `python -m dev` as a subprocess on a free 127.0.0.1
port, pointed at the fake. The clients (threads, one httpx connection each) POST a small real photo
to /api/denoise and /api/remove_bg in turn as Pro (a token minted with a throwaway IMGMEND_SECRET;
the burst limit is raised through RATE_LIMIT_PER_MINUTE, since every client shares 127.0.0.1) and
check that each answer is a 200 image of the photo's size. The dev server's RSS is sampled every
second. Prints requests, errors by status, throughput, latency percentiles and RSS start/peak/end;
exits 1 on any error or when RSS grows by more than --max-growth-mb after the warm-up.
Loopback only, bounded: no new request starts after --seconds, each has a 30 s timeout.
"""

import argparse
import collections
import io
import os
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
from PIL import Image  # noqa: E402

from bench.latency_fake import FixedLatencyReplicate  # noqa: E402
from bench.servers import ServerProcess  # noqa: E402

ENDPOINTS = ("denoise", "remove_bg")
REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DROPPED_ENV = ("REDIS_URL", "REPLICATE_MODEL_DENOISE", "REPLICATE_MODEL_REMOVE_BG",
               "REPLICATE_MODEL_REMOVE_WATERMARK", "STRIPE_SECRET_KEY", "PYTHONPATH")


def photo_jpeg(size=(160, 120)):
    """A small real photo (scikit-image's chelsea), as JPEG bytes."""
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.chelsea()).resize(size, Image.Resampling.LANCZOS).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def pro_token(secret):
    """A valid Pro token signed with `secret`, as /api/verify_pro would issue."""
    os.environ["IMGMEND_SECRET"] = secret
    from lib import tokens

    return tokens.issue_token("cus_loadbench")[0]


class Results:
    """Latencies and outcomes, appended from every client thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []  # seconds, successful requests
        self.errors = collections.Counter()  # status code or exception name -> count
        self.sample_error = {}  # the first body excerpt per kind (JSON error bodies, never images)

    def ok(self, seconds):
        with self.lock:
            self.latencies.append(seconds)

    def error(self, kind, detail=""):
        with self.lock:
            self.errors[kind] += 1
            self.sample_error.setdefault(kind, detail[:200])


def client(index, url, token, photo, size, stop_at, results):
    """Post the photo to alternating endpoints until stop_at; check each answer is the image."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT, trust_env=False) as http:
        turn = index
        while time.monotonic() < stop_at:
            endpoint = ENDPOINTS[turn % len(ENDPOINTS)]
            turn += 1
            start = time.perf_counter()
            try:
                response = http.post(f"/api/{endpoint}", headers=headers,
                                     files={"image": ("photo.jpg", photo, "image/jpeg")})
            except httpx.HTTPError as exc:
                results.error(type(exc).__name__)
                continue
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                body = response.text if response.headers.get("content-type", "").startswith(("application/json", "text/")) else ""
                results.error(str(response.status_code), body)
                continue
            kind = response.headers.get("content-type", "")
            try:
                with Image.open(io.BytesIO(response.content)) as image:  # header only: no decode
                    good = kind.startswith("image/") and image.size == size
            except Exception:
                good = False
            if good:
                results.ok(elapsed)
            else:
                results.error("200 but not the image", kind)


def sample_rss(pid, stop, samples, started, cpu):
    """Append (seconds since start, RSS MB) of the dev server every second until `stop` is set;
    keep its CPU seconds (user + sys) so far in cpu["server"]."""
    process = psutil.Process(pid)
    while not stop.is_set():
        try:
            samples.append((time.monotonic() - started, process.memory_info().rss / 2**20))
            times = process.cpu_times()
            cpu["server"] = times.user + times.system
        except psutil.Error:
            return
        stop.wait(1.0)


def percentile(sorted_values, fraction):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(fraction * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def slope_mb_per_min(points):
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    if len(points) < 3:
        return 0.0
    xs, ys = zip(*points)
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return 60 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--photo", default="160x120", help="WxH of the posted photo (small: the bench "
                        "is about concurrency, and every pixel costs CPU in both processes)")
    parser.add_argument("--latency", type=float, default=2.0, help="fake model latency per prediction, s")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before the flat-memory baseline "
                        "(default: a sixth of --seconds, at least 5)")
    parser.add_argument("--max-growth-mb", type=float, default=32.0,
                        help="allowed RSS growth from the end of warm-up to the end of the run")
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else max(5.0, args.seconds / 6)

    photo = photo_jpeg(tuple(int(v) for v in args.photo.lower().split("x")))
    size = Image.open(io.BytesIO(photo)).size
    fake = FixedLatencyReplicate(args.latency).start()
    secret = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(
        IMGMEND_ENGINE="replicate", REPLICATE_API_TOKEN=fake.token, REPLICATE_BASE_URL=fake.base_url,
        IMGMEND_SECRET=secret, RATE_LIMIT_PER_MINUTE="1000000",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )
    token = pro_token(secret)
    server = ServerProcess(lambda port: [sys.executable, "-m", "dev", "--host", "127.0.0.1", "--port", str(port)], env)
    results, samples, stop, cpu = Results(), [], threading.Event(), {}
    try:
        server.wait_ready()
        started = time.monotonic()
        own_cpu = sum(os.times()[:2])
        sampler = threading.Thread(target=sample_rss, args=(server.proc.pid, stop, samples, started, cpu),
                                   daemon=True)
        sampler.start()
        stop_at = started + args.seconds
        threads = [threading.Thread(target=client, args=(i, server.url, token, photo, size, stop_at, results),
                                    daemon=True) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:  # bounded: the last request started before stop_at times out at 30 s
            thread.join(timeout=max(0.0, stop_at - time.monotonic()) + REQUEST_TIMEOUT.read + 5)
        elapsed = time.monotonic() - started
        stop.set()
        sampler.join(timeout=5)
        stuck = sum(thread.is_alive() for thread in threads)
        own_cpu = sum(os.times()[:2]) - own_cpu
        load = os.getloadavg()[0]
    finally:
        stop.set()
        server.stop()
        fake.stop()

    latencies = sorted(results.latencies)
    errors = sum(results.errors.values())
    total = len(latencies) + errors
    rss = [mb for _, mb in samples]
    after_warmup = [(t, mb) for t, mb in samples if t >= warmup]
    base = after_warmup[0][1] if after_warmup else float("nan")
    growth = rss[-1] - base if after_warmup else float("nan")
    print(f"load: {args.clients} clients, {args.seconds:.0f} s, fake model {args.latency:.1f} s per prediction, "
          f"dev server pid {server.proc.pid} ({len(samples)} RSS samples)")
    print(f"requests: {total} ({len(latencies)} ok, {errors} errors) in {elapsed:.1f} s; "
          f"throughput {len(latencies) / elapsed:.1f} ok/s")
    print("errors by status: " + (", ".join(f"{k}: {v}" for k, v in sorted(results.errors.items())) or "none"))
    for kind, detail in sorted(results.sample_error.items()):
        print(f"  first {kind}: {detail!r}")
    if latencies:
        print("latency s: " + ", ".join(f"{name} {percentile(latencies, q):.3f}" for name, q in
                                        (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))) +
              f"  (min {latencies[0]:.3f}; model alone {args.latency:.3f})")
    if rss:
        print(f"dev server RSS MB: start {rss[0]:.1f}, peak {max(rss):.1f}, end {rss[-1]:.1f}; "
              f"after {warmup:.0f} s warm-up {base:.1f} -> end {rss[-1]:.1f} (growth {growth:+.1f} MB, "
              f"slope {slope_mb_per_min(after_warmup):+.1f} MB/min; allowed {args.max_growth_mb:.0f} MB)")
    # Where the time went: this machine's cores are shared, so say how busy everything was.
    print(f"CPU s: dev server {cpu.get('server', 0):.1f}, this process (clients + fake) {own_cpu:.1f}; "
          f"{psutil.cpu_count()} cores, load average {load:.1f} at the end")
    if server.tracebacks:
        print(f"dev server printed {server.tracebacks} tracebacks; last lines:\n" + "\n".join(server.tail))
    failed = errors or stuck or not latencies or server.tracebacks or not after_warmup or growth > args.max_growth_mb
    print("FAIL" if failed else "PASS: 0 errors, flat memory")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
