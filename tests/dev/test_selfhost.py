"""dev.selfhost under a real gunicorn: the dev server's routes and headers, one admission gate for all workers."""

import concurrent.futures
import http.client
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from werkzeug.test import Client

from dev import server as devserver
from tests.support.env import free_port, need
from tests.support.images import encode, photo

ROOT = Path(__file__).resolve().parents[2]
PATHS = ["/", "/denoise", "/about.html", "/style.css", "/no-such-page", "/api/config", "/api/nope"]
COMPARED = ("content-type", "cache-control", "content-security-policy", "strict-transport-security",
            "x-frame-options", "x-content-type-options", "referrer-policy", "permissions-policy",
            "cross-origin-opener-policy", "cross-origin-resource-policy", "location")


@pytest.fixture(scope="module")
def gunicorn():
    """`make serve`'s command on a free port: 2 sync workers, one local-engine job, no queue."""
    binary = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    if not binary:
        need("gunicorn is not installed (pip install -r requirements-local.txt)")
    port = free_port()
    env = {**os.environ, "IMGMEND_ENGINE": "local", "IMGMEND_LOCAL_JOBS": "1", "IMGMEND_LOCAL_QUEUE": "0",
           "IMGMEND_SECRET": "selfhost-test-secret", "RATE_LIMIT_PER_MINUTE": "1000", "FREE_DAILY_LIMIT": "1000"}
    # Sync workers handle one request at a time, so two requests at once land on two workers.
    proc = subprocess.Popen([binary, "-c", "dev/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}",
                             "--workers", "2", "--worker-class", "sync", "--threads", "1", "dev.selfhost:app"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/api/health")[0] in (200, 503):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("gunicorn did not start: " + proc.stderr.read().decode(errors="replace")[-2000:])
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", PATHS)
def test_routes_and_headers_are_the_dev_servers(gunicorn, path):
    dev = Client(devserver.create_app()).get(path)
    status, headers, _ = request(gunicorn, "GET", path)
    assert status == dev.status_code
    for name in COMPARED:
        assert headers.get(name) == dev.headers.get(name), name


def multipart(data):
    boundary = "imgmendselfhost"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_one_job_slot_is_shared_by_both_workers(gunicorn):
    body, headers = multipart(encode(photo("astronaut", (1600, 1200)), "JPEG", quality=90))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(request, gunicorn, "POST", "/api/denoise", body, headers)
        time.sleep(0.4)  # the first is running by now
        second = pool.submit(request, gunicorn, "POST", "/api/denoise", body, headers)
        answers = sorted([first.result(), second.result()], key=lambda a: a[0])
    (ok, _, image), (busy, busy_headers, error) = answers
    assert (ok, busy) == (200, 503), (ok, busy, error[:200])
    assert image[:3] == b"\xff\xd8\xff" and b'"busy"' in error and int(busy_headers["retry-after"]) >= 1
