"""Chaos bench: 50 clients for 120 s against the dev server on the Replicate engine while faults run.

Run from the repo root with the dev venv:  .venv/bin/python bench/chaos.py [--clients 50] [--seconds 120]
It starts a real `redis-server` (append-only file, so a restart keeps the counters), the loopback
fake Replicate (every prediction takes --model-s seconds) in this process, and `python -m dev` on the
Replicate engine pointed at both. Each client has a loopback address of its own (127.0.1.N), so each
is its own free-quota client, and posts a small real photo to /api/denoise and /api/remove_bg in
turn. Meanwhile this schedule of faults runs (seconds from the start, scaled to --seconds):

    15-30   Redis stopped, then restarted        60-70   Replicate answers 500 / 503
    35-55   Replicate answers 429 + Retry-After   72-80   connections to Replicate reset
    85-95   the model runs past the 75 s deadline

Every answer must be 200 or the contract's code for the fault of its window (no 500, no answer
later than the deadline allows); afterwards every Replicate upload must be deleted, no client
charged in Redis for more images than it received (a failed run is free) nor less than it received
outside the Redis outage (counted in the server's memory then), and the server's memory flat.
Prints the answers per fault window and PASS or FAIL (exit 1). Loopback only, bounded: no request
starts after --seconds, each has a 100 s timeout, then everything is stopped.
"""

import argparse
import collections
import io
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from PIL import Image  # noqa: E402

from bench.servers import ServerProcess  # noqa: E402
from lib import config  # noqa: E402
from tests.support.fake_replicate import FakeReplicate, fixed_timings  # noqa: E402
from tests.support.env import free_port  # noqa: E402
from tests.support.stores import start_redis  # noqa: E402

SECRET = "chaos-bench-secret"
DEADLINE_S = config.REPLICATE_DEADLINE_S
# (start, end, name, the codes an answer in it may carry besides 200), on a 120 s clock.
SCHEDULE = [
    (0, 15, "healthy", set()),
    (15, 30, "redis down", set()),  # the quota keeps holding in the server's memory: still 200
    (30, 35, "redis back", set()),
    (35, 55, "replicate 429", {"upstream_unavailable"}),
    (55, 60, "healthy", set()),
    (60, 70, "replicate 5xx", {"upstream_unavailable"}),
    (70, 72, "healthy", set()),
    (72, 80, "connection resets", {"upstream_unavailable", "upstream_error"}),
    (80, 85, "healthy", set()),
    (85, 95, "model past deadline", {"upstream_timeout"}),
    (95, 120, "healthy", set()),
]


def photo_jpeg(size=(160, 120)):
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.chelsea()).resize(size, Image.Resampling.LANCZOS).save(buf, "JPEG", quality=90)
    return buf.getvalue()


class Redis:
    """redis-server on a loopback port with an append-only file, stoppable and restartable."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chaos-redis-")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None
        self.start()

    def start(self):
        # The append-only file keeps what was counted across the outage, as a managed Redis would.
        self.proc, _, _ = start_redis("--dir", self.dir, "--appendonly", "yes", "--appendfsync", "always",
                                      port=self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def close(self):
        if self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def window_of(t, scale):
    """The schedule entry a moment (seconds since the start) falls in."""
    for start, end, name, codes in SCHEDULE:
        if start * scale <= t < end * scale:
            return name, codes
    return SCHEDULE[-1][2], SCHEDULE[-1][3]


def allowed_codes(start, end, scale, slack=1.0):
    """The codes allowed for a request that ran from `start` to `end`: those of every window it
    touched, a second either side (a fault switched on just after its create began counts too)."""
    return set().union(*(codes for s, e, _, codes in SCHEDULE if s * scale < end + slack and e * scale > start - slack))


def run_faults(scale, fake, store, model_s, log, stop):
    """Apply the schedule's faults at their moments; `log` gets (t, what)."""
    began = time.monotonic()

    def at(t):
        delay = began + t * scale - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        return not stop.is_set()

    steps = [
        (15, "redis stopped", store.stop),
        (30, "redis restarted", store.start),
        (35, "429s on", lambda: fake.fail("create", 429, headers={"Retry-After": "5"})),
        (55, "429s off", fake.clear_failures),
        (60, "5xx on", lambda: (fake.fail("create", 500), fake.fail("get", 503))),
        (70, "5xx off", fake.clear_failures),
        (72, "resets on", lambda: (fake.disconnect("upload"), fake.disconnect("create"))),
        (80, "resets off", fake.clear_failures),
        (85, "slow model on", lambda: fake.timings.update(fixed_timings(DEADLINE_S + 10))),
        (95, "slow model off", lambda: fake.timings.update(fixed_timings(model_s))),
    ]
    for t, what, action in steps:
        if not at(t):
            return
        action()
        log.append((round(time.monotonic() - began, 1), what))


def client(n, url, body, began, stop_at, results):
    """One user on address 127.0.1.n: POST photos in turn until the run ends."""
    transport = httpx.HTTPTransport(local_address=f"127.0.1.{n}")
    tools = ("denoise", "remove_bg")
    with httpx.Client(transport=transport, timeout=httpx.Timeout(DEADLINE_S + 25, connect=5), trust_env=False) as http:
        i = n
        while time.monotonic() < stop_at:
            tool = tools[i % 2]
            i += 1
            start = time.monotonic()
            try:
                response = http.post(f"{url}/api/{tool}", files={"image": ("p.jpg", body, "image/jpeg")})
                code = None if response.status_code == 200 else response.json()["error"]["code"]
                status = response.status_code
            except (httpx.HTTPError, ValueError, KeyError) as error:
                status, code = "exception", type(error).__name__
            results.append((n, start - began, time.monotonic() - began, status, code))
            if status != 200:
                time.sleep(0.5)  # as a person would, before trying again


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--model-s", type=float, default=1.0, help="seconds each prediction takes outside the slow stretch")
    parser.add_argument("--max-growth-mb", type=float, default=64.0)
    args = parser.parse_args()
    scale = args.seconds / 120.0

    store = Redis()
    fake = FakeReplicate(timings=fixed_timings(args.model_s))
    fake.keep_records = False
    fake.start()
    env = {k: v for k, v in os.environ.items() if k not in config.SETTINGS and k != "PYTHONPATH"}
    env.update(IMGMEND_ENGINE="replicate", REPLICATE_API_TOKEN=fake.token, REPLICATE_BASE_URL=fake.base_url,
               REDIS_URL=store.url, IMGMEND_SECRET=SECRET, FREE_DAILY_LIMIT="100000",
               RATE_LIMIT_PER_MINUTE="100000", PYTHONUNBUFFERED="1")
    server = ServerProcess(lambda port: [sys.executable, "-m", "dev", "--host", "127.0.0.1", "--port", str(port)], env)
    results, faults, samples = [], [], []
    stop = threading.Event()
    body = photo_jpeg()
    try:
        server.wait_ready()
        began = time.monotonic()
        stop_at = began + args.seconds

        def sample():
            while not stop.is_set():
                samples.append((time.monotonic() - began, server.memory()[0]))
                stop.wait(1.0)

        threads = [threading.Thread(target=sample, daemon=True),
                   threading.Thread(target=run_faults, args=(scale, fake, store, args.model_s, faults, stop), daemon=True)]
        threads += [threading.Thread(target=client, args=(n, server.url, body, began, stop_at, results), daemon=True)
                    for n in range(1, args.clients + 1)]
        for thread in threads:
            thread.start()
        for thread in threads[2:]:
            thread.join(args.seconds + DEADLINE_S + 40)
        stuck = sum(t.is_alive() for t in threads[2:])
        stop.set()
        time.sleep(2)  # the server's last deletes
        live = fake.live_files()
        uploaded = len(fake.uploaded)
        os.environ.update(REDIS_URL=store.url, IMGMEND_SECRET=SECRET, FREE_DAILY_LIMIT="100000")
        from lib import http, quota

        charged = {}
        for n in range(1, args.clients + 1):
            left = quota.remaining(quota.client_id(http.network_of(f"127.0.1.{n}")))
            charged[n] = None if left is None else 100000 - left
    finally:
        stop.set()
        server.stop()
        fake.stop()
        store.close()

    # --- the answers, per fault window ------------------------------------------------------------
    table = collections.OrderedDict((name, collections.Counter()) for _, _, name, _ in SCHEDULE)
    bad, late = [], []
    for n, start, end, status, code in results:
        name, _ = window_of(start, scale)
        label = "200" if status == 200 else f"{status} {code}"
        table[name][label] += 1
        ok = status == 200 or (status != "exception" and code in allowed_codes(start, end, scale))
        if not ok:
            bad.append((round(start, 1), name, label))
        if end - start > DEADLINE_S + 15:
            late.append((round(start, 1), round(end - start, 1), label))
    print(f"chaos: {args.clients} clients, {args.seconds:.0f} s, model {args.model_s} s per prediction, "
          f"deadline {DEADLINE_S:.0f} s; dev server on the Replicate engine, real redis-server, fake Replicate")
    print("faults applied: " + "; ".join(f"{t:.0f}s {what}" for t, what in faults))
    print(f"{'window':22} answers")
    seen = set()
    for start, end, name, _ in SCHEDULE:
        if name in seen:
            continue
        seen.add(name)
        counts = ", ".join(f"{label} x{count}" for label, count in table[name].most_common()) or "-"
        print(f"{name:22} {counts}")
    oks = [end - start for _, start, end, status, _ in results if status == 200]
    print(f"requests {len(results)}, ok {len(oks)}; ok latency median {statistics.median(oks):.2f} s, "
          f"max {max(oks):.2f} s" if oks else f"requests {len(results)}, none ok")

    # --- the quota: nobody charged for a failed run, nobody's success uncounted outside the outage ----
    down_from, down_to = 15 * scale, 30 * scale + 6  # Redis retried 5 s after it failed
    over, under = [], []
    for n in range(1, args.clients + 1):
        mine = [(start, status) for m, start, _, status, _ in results if m == n]
        got = sum(1 for _, status in mine if status == 200)
        in_memory = sum(1 for start, status in mine if status == 200 and down_from - 1 <= start <= down_to)
        if charged[n] is None:
            raise SystemExit("Redis could not be read after the run")
        if charged[n] > got:
            over.append((n, charged[n], got))
        if charged[n] < got - in_memory:
            under.append((n, charged[n], got, in_memory))
    print(f"quota: {sum(charged.values())} images charged in Redis, {len(oks)} received; "
          f"clients charged more than they got: {len(over)}, clients with uncounted images outside the outage: {len(under)}")
    print(f"uploads: {uploaded} created, {len(live)} not deleted")
    warm = [rss for t, rss in samples if t >= 20]
    growth = (warm[-1] - warm[0]) / 2**20 if len(warm) > 1 else 0.0
    print(f"dev server RSS MB: peak {max(r for _, r in samples) / 2**20:.0f}, after 20 s {warm[0] / 2**20:.0f} -> "
          f"end {warm[-1] / 2**20:.0f} (growth {growth:+.1f} MB; allowed {args.max_growth_mb:.0f})" if warm else "no samples")
    failures = []
    if bad:
        failures.append(f"{len(bad)} answers outside the contract for their fault, e.g. {bad[:5]}")
    if late or stuck:
        failures.append(f"{len(late)} answers later than the deadline allows, {stuck} clients stuck")
    if over or under:
        failures.append(f"quota inconsistent: over {over[:3]}, under {under[:3]}")
    if live:
        failures.append(f"{len(live)} uploads left at Replicate")
    if growth > args.max_growth_mb:
        failures.append(f"memory grew {growth:.0f} MB")
    if server.tracebacks:
        failures.append(f"{server.tracebacks} tracebacks: " + " | ".join(list(server.tail)[-5:]))
    unhandled = [line for line in server.lines if "unhandled" in line]
    if unhandled:
        failures.append(f"the server logged {len(unhandled)} unhandled errors: {sorted(set(unhandled))[:5]}")
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
