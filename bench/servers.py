"""The server under test as a subprocess on a free loopback port: started, drained, awaited, stopped."""

import collections
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psutil

from tests.support.env import free_port

ROOT = Path(__file__).resolve().parent.parent


class ServerProcess:
    """`command(port)` run from the repo root; stdout lines kept (the JSON request lines), stderr's tail kept.

    Both pipes are drained all the time: an undrained pipe would block the server once it fills.
    """

    def __init__(self, command, env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines, self.tail, self.tracebacks = [], collections.deque(maxlen=40), 0
        self.proc = subprocess.Popen(command(self.port), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        threading.Thread(target=self._drain, args=(self.proc.stdout, self.lines.append), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr, self._error_line), daemon=True).start()

    @staticmethod
    def _drain(stream, sink):
        for raw in stream:
            sink(raw.decode("utf-8", "replace").rstrip())

    def _error_line(self, line):
        if "Traceback" in line or line.startswith("dev server:"):
            self.tracebacks += 1
        self.tail.append(line)

    def wait_ready(self, timeout=60):
        """Block until GET /api/health answers (any status)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("server exited:\n" + "\n".join(self.tail))
            try:
                httpx.get(f"{self.url}/api/health", timeout=2, trust_env=False)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit("server did not start:\n" + "\n".join(self.tail))

    def memory(self):
        """(RSS, PSS) in bytes of the server and every process it started."""
        rss = pss = 0
        try:
            procs = [psutil.Process(self.proc.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return 0, 0
        for proc in procs:
            try:
                info = proc.memory_full_info()
                rss, pss = rss + info.rss, pss + getattr(info, "pss", info.rss)
            except psutil.NoSuchProcess:
                pass
        return rss, pss

    def stop(self):
        """Terminate the server and wait for it."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
