"""The counter store in tests and benches: a real redis-server started on loopback, and reading back
what it holds."""

import shutil
import subprocess
import time

from tests.support.env import free_port


def start_redis(*options, port=None):
    """A redis-server on 127.0.0.1 that answers PING, never snapshotting: (process, client, port).

    `options` are more redis-server arguments (none: no append-only file either); `port` reuses one,
    as a restart does. FileNotFoundError without redis-server, RuntimeError if it does not answer in 5 s.
    """
    import redis

    binary = shutil.which("redis-server")
    if not binary:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    port = port or free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *(options or ("--appendonly", "no"))]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 5
    while True:
        try:
            client.ping()
            return proc, client, port
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("redis-server did not answer within 5 s") from None
            time.sleep(0.025)


def dump(client):
    """Every Redis key with its value, as one blob, plus the key set."""
    blob, keys = b"", set()
    for key in client.keys("*"):
        keys.add(key.decode())
        kind = client.type(key).decode()
        value = client.hgetall(key) if kind == "hash" else {b"": client.get(key) or b""} if kind == "string" else {}
        blob += key + b"=" + b";".join(k + b":" + v for k, v in sorted(value.items())) + b"\n"
    return keys, blob
