"""The loopback fake Replicate (tests/support/fake_replicate.py) with a fixed model latency, for the benches.

Every prediction takes `latency_s` from its create request. A create sent with `Prefer: wait=N`
is held like the real API holds it: up to min(N, `wait_cap_s`) seconds; when the model is done by
then the answer carries the finished prediction, otherwise the prediction comes back "processing"
and GETs keep answering "processing" until the latency has passed. A `wait_cap_s` below the
latency makes the engine poll, as a prediction that outlives the real 60 s window does.

It wraps the fake at its WSGI entry point only (the fake itself is being extended elsewhere), and
drops what the fake keeps for test inspection once it is used, so a long load run stays bounded.
"""

import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from werkzeug.wrappers import Response  # noqa: E402

from tests.support.fake_replicate import ROUTES, FakeReplicate  # noqa: E402

_WAIT = re.compile(r"^\s*wait(?:\s*=\s*(\d+))?")
REAL_MAX_WAIT_S = 60  # the API holds a Prefer: wait request for at most 60 s
KEEP_CALLS = 1000  # recorded requests kept (tests read them; a bench only needs recent ones)


def _route(environ):
    """(route name, params) as the fake would dispatch the request."""
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    for route_method, pattern, name in ROUTES:
        match = pattern.match(path)
        if match and method == route_method:
            return name, match.groupdict()
    return "unknown", {}


def _json(obj, status=200):
    return Response(json.dumps(obj), status=status, mimetype="application/json")


def _wait_seconds(prefer):
    """The N of `Prefer: wait=N` (bare `wait`: the API's maximum), or None without the header."""
    match = _WAIT.match(prefer or "")
    if not match:
        return None
    return min(int(match.group(1) or REAL_MAX_WAIT_S), REAL_MAX_WAIT_S)


class FixedLatencyReplicate(FakeReplicate):
    """FakeReplicate whose every prediction takes `latency_s` seconds of model time."""

    def __init__(self, latency_s, wait_cap_s=REAL_MAX_WAIT_S, **kwargs):
        super().__init__(**kwargs)
        self.latency_s = latency_s
        self.wait_cap_s = wait_cap_s
        self._slow_lock = threading.Lock()
        self._running = {}  # prediction id -> (monotonic time it is done, its object as created)
        self.polls = 0  # GETs of predictions (answered here or by the fake)

    def _wsgi(self, environ, start_response):
        route, params = _route(environ)
        if route == "create":
            return self._create_with_latency(environ, start_response)
        if route == "get":
            with self._slow_lock:
                self.polls += 1
                running = self._running.get(params["prediction_id"])
            if running is not None:
                done_at, obj = running
                if time.monotonic() < done_at and self._authorised(environ):
                    return _json(obj)(environ, start_response)
                with self._slow_lock:
                    self._running.pop(params["prediction_id"], None)
        result = super()._wsgi(environ, start_response)
        self._forget_used(route, params)
        return result

    def _authorised(self, environ):
        # An unauthorised GET goes on to the fake, which answers 401 as the API does.
        return environ.get("HTTP_AUTHORIZATION") == f"Bearer {self.token}"

    def _create_with_latency(self, environ, start_response):
        """Hold the create like Prefer: wait does; answer "processing" if the model is not done."""
        started = time.monotonic()
        wait = _wait_seconds(environ.get("HTTP_PREFER"))
        hold = 0 if wait is None else min(wait, self.wait_cap_s)
        done_at = started + self.latency_s
        # The fake "runs" the model at once (Prefer: wait makes it finish the prediction inside the
        # create); its own image work then counts as part of the fixed latency, not on top of it.
        environ["HTTP_PREFER"] = "wait"
        captured = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return lambda data: None

        body = b"".join(super()._wsgi(environ, capture))
        if not captured["status"].startswith("201"):  # a scripted failure: answer it as it is
            start_response(captured["status"], captured["headers"])
            return [body]
        if self.latency_s <= hold:
            time.sleep(max(0.0, done_at - time.monotonic()))
            start_response(captured["status"], captured["headers"])
            return [body]
        # Not done within the wait window: "processing" now, and to every GET until done_at; after
        # that the fake itself answers with the finished prediction.
        obj = json.loads(body)
        if obj.get("status") != "succeeded":
            start_response(captured["status"], captured["headers"])
            return [body]
        obj.update(status="processing", output=None, completed_at=None, metrics=None)
        with self._slow_lock:
            self._running[obj["id"]] = (done_at, obj)
        time.sleep(max(0.0, started + hold - time.monotonic()))
        return _json(obj, status=201)(environ, start_response)

    def _forget_used(self, route, params):
        """Drop an upload's archived bytes once deleted and an output once downloaded (best effort:
        these are the fake's private test records, so a renamed one is simply left alone)."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if route == "delete":
                archive = getattr(self, "_archive", None)
                if isinstance(archive, dict):
                    archive.pop(params.get("file_id"), None)
            elif route == "output":
                outputs = getattr(self, "_outputs", None)
                if isinstance(outputs, dict):
                    outputs.pop((params.get("prediction_id"), params.get("filename")), None)
            calls = getattr(self, "_calls", None)
            if isinstance(calls, list) and len(calls) > 2 * KEEP_CALLS:
                del calls[:-KEEP_CALLS]
