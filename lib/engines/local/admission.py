"""How many local-engine jobs run at once, how many wait, and how long a waiting job may wait.

A self-hosted machine has a few cores and a fixed amount of memory; every job holds a decoded
photo and a model's scratch memory. So at most `jobs` run at once and at most `queue` more wait;
a job is queued only when the wait this process expects fits the promise (`max_wait_s`), and a
queued job that is still waiting when the promise runs out is refused too. Refusals are
`503 busy` with a `Retry-After` estimated from how long jobs take here. The counters are per
process; the self-hosting server (`dev/selfhost.py`) makes them shared by its worker processes
before it forks them.
"""

import math
import multiprocessing
import os
import threading
import time

from lib import config, http
from lib.errors import Busy

FIRST_GUESS_S = 15.0  # a 12 MP denoise on 2 cores, until this process has timed a job of its own
SMOOTHING = 0.3  # weight of the newest job in the running mean of job durations
RUNNING, WAITING, MEAN_S = 0, 1, 2  # the counters, by index
GB = 1024**3


def default_jobs():
    """Jobs at once by default: one per core, and no more than one per 2 GB of memory."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 4 * GB
    return max(1, min(os.cpu_count() or 1, int(memory // (2 * GB))))


class Admission:
    """A bounded run-and-wait gate: `with admission.slot(): ...` runs a job or raises Busy."""

    def __init__(self, jobs=None, queue=None, max_wait_s=None, shared=False):
        self.jobs = jobs or config.local_jobs() or default_jobs()
        self.queue = queue if queue is not None else config.local_queue(self.jobs)
        self.max_wait_s = max_wait_s if max_wait_s is not None else config.local_max_wait_s()
        kind = multiprocessing if shared else threading
        self._lock = kind.Lock()
        self._slots = kind.BoundedSemaphore(self.jobs)  # free slots
        start = [0.0, 0.0, FIRST_GUESS_S]
        self._n = multiprocessing.Array("d", start, lock=False) if shared else start

    def expected_wait_s(self, ahead):
        """How long a job with `ahead` jobs queued before it will likely wait for a slot."""
        return self._n[MEAN_S] * (ahead + 1) / self.jobs

    def retry_after(self):
        """Whole seconds after which one more job is likely to get a slot (at least 1)."""
        return max(1, math.ceil(self.expected_wait_s(int(self._n[WAITING]))))

    def state(self):
        """(running, waiting) now."""
        with self._lock:
            return int(self._n[RUNNING]), int(self._n[WAITING])

    def slot(self):
        """A context manager that holds one job slot while the block runs (or raises Busy)."""
        return _Slot(self)

    def _enter(self):
        if self._slots.acquire(False):
            with self._lock:
                self._n[RUNNING] += 1
            http.annotate(queue_ms=0)
            return
        queued = time.monotonic()
        with self._lock:
            ahead = int(self._n[WAITING])
            if ahead >= self.queue or self.expected_wait_s(ahead) > self.max_wait_s:
                raise Busy(self.retry_after())
            self._n[WAITING] += 1
        try:
            got = self._slots.acquire(True, self.max_wait_s)
        finally:
            with self._lock:
                self._n[WAITING] -= 1
        waited_ms = round((time.monotonic() - queued) * 1000)
        http.annotate(queue_ms=waited_ms)  # the request's log line says how long it queued
        if not got:  # the promise ran out: say so rather than keep the user waiting longer
            raise Busy(self.retry_after())
        with self._lock:
            self._n[RUNNING] += 1

    def _leave(self, seconds):
        with self._lock:
            self._n[RUNNING] -= 1
            self._n[MEAN_S] = (1 - SMOOTHING) * self._n[MEAN_S] + SMOOTHING * seconds
        self._slots.release()


class _Slot:
    def __init__(self, admission):
        self._admission = admission
        self._started = None

    def __enter__(self):
        self._admission._enter()
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc):
        self._admission._leave(time.monotonic() - self._started)
        return False
