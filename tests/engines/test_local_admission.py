"""lib.engines.local.admission: at most N jobs at once, a bounded queue, 503 busy with Retry-After beyond."""

import io
import multiprocessing
import threading
import time

import pytest

from lib import engines
from lib.engines.local import LocalEngine
from lib.engines.local.admission import Admission, default_jobs
from lib.errors import Busy
from tests.support.images import encode, photo


def hold(admission, started, release):
    """A job that takes a slot and keeps it until `release` is set."""
    with admission.slot():
        started.set()
        release.wait(10)


def background(*args):
    thread = threading.Thread(target=hold, args=args, daemon=True)
    thread.start()
    return thread


def test_at_most_n_jobs_run_at_once_and_the_queue_is_bounded():
    gate = Admission(jobs=2, queue=1, max_wait_s=30)
    release = threading.Event()
    running = [threading.Event(), threading.Event()]
    threads = [background(gate, started, release) for started in running]
    assert all(e.wait(5) for e in running) and gate.state() == (2, 0)
    queued = threading.Event()
    waiter = background(gate, queued, release)  # the one place in the queue
    deadline = time.monotonic() + 5
    while gate.state() != (2, 1) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.state() == (2, 1) and not queued.is_set()
    with pytest.raises(Busy) as caught:  # the queue is full: refused at once
        with gate.slot():
            pass
    assert caught.value.status == 503 and caught.value.code == "busy"
    assert int(caught.value.headers["Retry-After"]) >= 1
    release.set()
    for thread in (*threads, waiter):
        thread.join(5)
    assert queued.is_set() and gate.state() == (0, 0)


def test_a_queued_job_is_refused_when_the_promised_wait_runs_out():
    gate = Admission(jobs=1, queue=3, max_wait_s=1)
    gate._n[2] = 0.1  # jobs look quick, so the waiter is queued rather than refused at once
    release, started = threading.Event(), threading.Event()
    thread = background(gate, started, release)
    assert started.wait(5)
    began = time.monotonic()
    with pytest.raises(Busy):
        with gate.slot():
            pass
    assert 0.9 <= time.monotonic() - began < 3  # it waited for the promise, and no longer
    release.set()
    thread.join(5)


def test_a_job_that_cannot_start_within_the_promise_is_refused_at_once():
    gate = Admission(jobs=1, queue=5, max_wait_s=10)
    gate._n[2] = 30.0  # a job here takes 30 s: a wait of 30 s breaks a 10 s promise
    release, started = threading.Event(), threading.Event()
    thread = background(gate, started, release)
    assert started.wait(5)
    began = time.monotonic()
    with pytest.raises(Busy) as caught:
        with gate.slot():
            pass
    assert time.monotonic() - began < 0.5 and int(caught.value.headers["Retry-After"]) == 30
    release.set()
    thread.join(5)


def test_the_mean_job_time_follows_the_jobs_done_here():
    gate = Admission(jobs=1, queue=0, max_wait_s=1)
    before = gate._n[2]
    with gate.slot():
        time.sleep(0.05)
    assert gate._n[2] < before and gate.retry_after() >= 1


def _try_slot(gate, results):
    try:
        with gate.slot():
            results.put("ran")
    except Busy:
        results.put("busy")


def test_a_shared_gate_holds_across_forked_processes():
    context = multiprocessing.get_context("fork")
    gate = Admission(jobs=1, queue=0, max_wait_s=1, shared=True)
    results = context.Queue()
    with gate.slot():  # this process holds the only slot
        child = context.Process(target=_try_slot, args=(gate, results))
        child.start()
        child.join(10)
    assert results.get(timeout=5) == "busy"
    child = context.Process(target=_try_slot, args=(gate, results))
    child.start()
    child.join(10)
    assert results.get(timeout=5) == "ran"


def test_default_jobs_fit_the_machine():
    assert 1 <= default_jobs() <= (multiprocessing.cpu_count() or 1)


def test_a_busy_engine_answers_503_with_retry_after_and_spends_no_free_image(api, monkeypatch):
    monkeypatch.setenv("FREE_DAILY_LIMIT", "3")
    engine = LocalEngine()
    engine.admission = Admission(jobs=1, queue=0, max_wait_s=1)
    data = encode(photo("chelsea", (64, 48)))
    with engines.use(engine):
        with engine.admission.slot():  # another photo is being repaired
            busy = api("denoise").post(data={"image": (io.BytesIO(data), "a.jpg")}, content_type="multipart/form-data")
        done = api("denoise").post(data={"image": (io.BytesIO(data), "a.jpg")}, content_type="multipart/form-data")
    assert busy.status_code == 503 and busy.get_json()["error"]["code"] == "busy"
    assert int(busy.headers["Retry-After"]) >= 1 and busy.get_json()["error"]["retry_after"] >= 1
    assert done.status_code == 200 and done.headers["X-Quota-Remaining"] == "2"  # the busy run was free
