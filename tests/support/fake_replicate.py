"""A loopback fake of the Replicate HTTP API: real sockets, JSON shaped like the recorded fixtures,
and each model's timing shaped like the real one.

It serves what the engine uses — the Files API, official-model, version and deployment predictions
with `Prefer: wait`, polling, cancel — plus a delivery route for outputs. Its "models" make a real
image from the uploaded input (remove_bg: RGBA cut-out; denoise: a slightly blurred copy;
eraser/lama: the masked area filled), so the engine's download and decode path runs for real.

Time is modelled per model (`Timing`, keyed by `owner/name`): a prediction waits `starting` while a
cold model boots (`cold_start_s`, once, then the model stays warm for `idle_s`), then runs
`base_s + per_mp_s * megapixels of input.image` as `processing`. SCUNet fails with "CUDA out of
memory" on an input over `max_mp` (3 MP), as the real model on a T4 does. `Cancel-After` is
honoured as documented: a prediction whose deadline passes before it starts ends `aborted` (not
billed), one that is running ends `canceled` (billed up to then). `Prefer: wait=N` holds the create
for min(N, `wait_cap_s`) seconds or until the prediction ends. The eraser's `mask_type` must be
`manual` or `automatic` (its schema's enum); anything else is a 422. `TEST_TIMINGS` (the default)
keeps the shape at a few milliseconds; `REAL_TIMINGS` carries the documented figures for the benches
(sources in docs/operations.md).

Tests script failures (`fail`), slow or endless predictions and bad outputs (`script`), and read
every request back (`calls`, `live_files`, `cancelled`, `billed_s`). `disconnect` makes a route end
the connection with no answer at all, as a proxy reset or a crashed gateway does.
"""

import base64
import dataclasses
import io
import json
import math
import re
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from PIL import Image, ImageDraw, ImageFilter, ImageStat
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

TOKEN = "r8_test_F4keT0ken_9c1d2e3f4a5b6c7d8e9f"

# RFC 7807 bodies as the API sends them (401: run__invalid-token.yaml; the others per design.md).
PROBLEMS = {
    400: {"title": "Bad request", "detail": "The request could not be understood.", "status": 400},
    401: {"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401},
    402: {
        "title": "Insufficient credit",
        "detail": "You have insufficient credit to run this model. Go to https://replicate.com/account/billing"
        "#billing to purchase credit. Once you purchase credit, please wait a few minutes before trying again.",
        "status": 402,
    },
    403: {"title": "Forbidden", "detail": "You do not have permission to perform this action.", "status": 403},
    404: {"title": "Not found", "detail": "The requested resource does not exist.", "status": 404},
    422: {
        "title": "Input validation failed",
        "detail": "- input.image: Does not match format 'uri'",
        "status": 422,
        "invalid_fields": [
            {"type": "format", "field": "input.image", "description": "Does not match format 'uri'"}
        ],
    },
    429: {
        "title": "Request was throttled",
        "detail": "Request was throttled. Your rate limit resets in ~7s.",
        "status": 429,
        "retry_after": 7,
    },
}
MODEL_ERROR = "CUDA out of memory while running the raw model code at predict.py:42"
# SCUNet on a T4 with an input over ~3 MP (cszn/SCUNet#6 shows the same error on a 12 GB card).
OOM_ERROR = ("CUDA out of memory. Tried to allocate 486.00 MiB (GPU 0; 14.75 GiB total capacity; "
             "13.20 GiB already allocated; 210.06 MiB free; 13.43 GiB reserved in total by PyTorch)")
MASK_TYPES = ("manual", "automatic")  # bria/eraser's enum
REAL_MAX_WAIT_S = 60  # the API holds a Prefer: wait request for at most 60 s
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:h|m|s|ms|us|µs|ns))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}

ROUTES = [
    ("POST", re.compile(r"^/v1/files$"), "upload"),
    ("GET", re.compile(r"^/v1/files$"), "list_files"),
    ("GET", re.compile(r"^/v1/files/(?P<file_id>[\w-]+)$"), "file"),
    ("DELETE", re.compile(r"^/v1/files/(?P<file_id>[\w-]+)$"), "delete"),
    ("POST", re.compile(r"^/v1/models/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)/predictions$"), "create"),
    ("POST", re.compile(r"^/v1/deployments/(?P<deployment_owner>[\w.-]+)/(?P<deployment_name>[\w.-]+)/predictions$"),
     "create"),
    ("POST", re.compile(r"^/v1/predictions$"), "create"),
    ("GET", re.compile(r"^/v1/predictions/(?P<prediction_id>\w+)$"), "get"),
    ("POST", re.compile(r"^/v1/predictions/(?P<prediction_id>\w+)/cancel$"), "cancel"),
    ("GET", re.compile(r"^/delivery/(?P<prediction_id>\w+)/(?P<filename>[\w.-]+)$"), "output"),
]


@dataclass(frozen=True)
class Timing:
    """How long one model takes, in seconds."""

    cold_start_s: float = 0.0  # a cold model boots this long first (predictions wait "starting")
    base_s: float = 0.0  # every prediction, once running
    per_mp_s: float = 0.0  # per megapixel of input["image"]
    idle_s: float = 300.0  # warm for this long after its last prediction ends, then cold again
    max_mp: float | None = None  # an input over this fails with CUDA out of memory

    def run_s(self, megapixels):
        """Seconds of `processing` for an input of `megapixels`."""
        return self.base_s + self.per_mp_s * megapixels


# The suite's default: the real shape (cold start, pixels cost time, SCUNet's memory limit) in ms.
TEST_TIMINGS = {
    "cszn/scunet": Timing(cold_start_s=0.05, base_s=0.02, per_mp_s=0.05, idle_s=60.0, max_mp=3.0),
    "bria/remove-background": Timing(base_s=0.01, per_mp_s=0.01),
    "bria/eraser": Timing(base_s=0.02, per_mp_s=0.01),
    "*": Timing(base_s=0.01, per_mp_s=0.01),
}
# The figures the benches use; where each comes from is in docs/operations.md ("The fake Replicate").
REAL_TIMINGS = {
    # Community model on a T4: boots when cold (seconds to minutes); the 2 s + 2 s/MP.
    "cszn/scunet": Timing(cold_start_s=10.0, base_s=2.0, per_mp_s=2.0, idle_s=300.0, max_mp=3.0),
    # Official (always-on) partner models: no cold start for the caller.
    "bria/remove-background": Timing(base_s=3.0, per_mp_s=0.0),  # not documented: an assumption
    "bria/eraser": Timing(base_s=13.6, per_mp_s=0.0),  # Segmind lists ~13.58 s per run
    "*": Timing(base_s=2.0, per_mp_s=0.0),
}


# Public version ids seen in code that calls these models (research notes), so a version prediction
# knows its model (its timing, its output shape) as Replicate does.
KNOWN_VERSIONS = {
    "df9a3c1dbc6c1f7f4c2d244f68dffa2699a169cf5e701e0d6a009bf6ff507f26": "cszn/scunet",
    "b4eb5b1db3c94294246d628d09559c55b6ef2dd33c5eeb24f2b1d9fc665ed5b7": "cszn/scunet",
    "64f33cc865773173da252033605a9144a1e941f1ca9cc16b714f3b7f637f6a79": "cszn/scunet",
    "a029dff38972b5fda4ec5d75d7d1cd25aeff621d2cf4946a41055d7db66b80bc": "851-labs/background-remover",
}


def fixed_timings(latency_s):
    """Every model takes exactly `latency_s` from its create, warm (the load and budget benches)."""
    return {"*": Timing(base_s=latency_s)}


@dataclass
class Script:
    """How the next predictions behave (on top of their model's timing)."""

    outcome: str = "succeeded"  # final status: succeeded | failed | canceled
    polls: int = 0  # GETs answered "processing" first, then done (0: on the model's own timing)
    never_finish: bool = False  # "processing" until cancelled (by a request or by Cancel-After)
    output: str = "image"  # image | garbage | missing | not_found | data_url | list
    sync_output_while_processing: bool = False  # Prefer: wait answer has the output, status "processing"
    create_delay_s: float = 0.0  # the create answer is this late (the prediction exists at once)
    output_url: str | None = None  # publish this URL as the output instead of the fake's own
    redirect_to: str | None = None  # the delivery route answers 302 to this URL


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    route: str
    headers: dict  # lower-case names
    body_size: int
    json: object = None


@dataclass
class _Failure:
    route: str
    status: int | None  # None: drop the connection without answering
    skip: int
    times: int | None
    body: dict | None
    headers: dict = field(default_factory=dict)


@dataclass
class _Run:
    """One prediction's life on the fake's clock (time.monotonic)."""

    object: dict
    script: Script
    created: float
    start_at: float  # when it leaves "starting"
    done_at: float  # when it ends on its own (inf: never, or after `pending` GETs)
    outcome: str  # succeeded | failed | canceled, at done_at
    error: str | None
    deadline_at: float  # created + Cancel-After (inf without the header)
    pending: int = 0
    result: bytes | None = None  # the model's output, published when it succeeds
    ended: threading.Event = field(default_factory=threading.Event)
    ended_at: float | None = None
    billed_s: float = 0.0


class _InMemoryRequest(Request):
    """Uploads stay in memory: werkzeug would spool a body over 500 KB to a temporary file, and the
    privacy tests check that nothing in the process (this fake included) writes a file."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass  # keep test output (and caplog) free of access lines


def _now():
    return datetime.now(timezone.utc)


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _iso_at(monotonic):
    """A monotonic instant as the API's UTC timestamp."""
    return _iso(_now() + timedelta(seconds=monotonic - time.monotonic()))


def _new_id(length=26):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _png(image):
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def parse_duration(text):
    """Seconds in a Go-style duration ("45s", "1m30s", "1.5s", "250ms"), or None if malformed.

    Replicate's only documented example is `Cancel-After: 1m`; its `lifetime` field takes this
    syntax, so the fake accepts it and refuses anything else with a 400 (an assumption).
    """
    text = (text or "").strip()
    if not _DURATION.match(text):
        return None
    return sum(float(n) * _UNIT_S[unit] for n, unit in _DURATION_PART.findall(text))


class FakeReplicate:
    """The fake API server; `start()` binds 127.0.0.1 on a free port, `stop()` shuts it down."""

    def __init__(self, token=TOKEN, timings=None, wait_cap_s=REAL_MAX_WAIT_S):
        self.token = token
        self.script = Script()
        self.timings = dict(TEST_TIMINGS if timings is None else timings)
        self.wait_cap_s = wait_cap_s
        self.versions = dict(KNOWN_VERSIONS)  # version id -> "owner/name" (the `model` of version predictions)
        self.deployments = {}  # "owner/name" of a deployment -> "owner/name" of the model it runs
        self.keep_records = True  # False: forget uploads and outputs once used (long bench runs)
        self.base_url = None
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self._files = {}  # id -> {"data", "object"}
        self._archive = {}  # id -> uploaded bytes, kept after deletion so tests can inspect them
        self._deleted = []
        self._created = []
        self._runs = {}  # prediction id -> _Run
        self._outputs = {}  # (prediction id, filename) -> bytes
        self._cancelled = []
        self._failures = []
        self._calls = []
        self._warm = {}  # model -> {"booting_until", "warm_until"}

    # --- lifecycle -------------------------------------------------------------------------

    def start(self):
        """Serve on a free loopback port in a daemon thread."""
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._server.daemon_threads = True  # a held Prefer: wait request must not block shutdown
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Shut the server down (and release any request still held by Prefer: wait)."""
        if self._server is not None:
            with self._lock:
                runs = list(self._runs.values())
            for run in runs:
                run.ended.set()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    # --- scripting and inspection ---------------------------------------------------------------

    def timing(self, model):
        """The Timing of `owner/name` (or the "*" default)."""
        return self.timings.get(model.lower(), self.timings.get("*", Timing()))

    def set_timing(self, model, **changes):
        """Change some figures of one model's timing (e.g. max_mp, cold_start_s)."""
        self.timings[model] = dataclasses.replace(self.timing(model), **changes)

    def fail(self, route, status, *, skip=0, times=None, body=None, headers=None):
        """Answer `route` (upload, delete, create, get, cancel, output, file) with `status`.

        `skip` requests pass first; `times` limits how many fail (None: all later ones).
        """
        with self._lock:
            self._failures.append(_Failure(route, status, skip, times, body, dict(headers or {})))

    def clear_failures(self, route=None):
        """Stop failing `route` (every route when None): the end of a scripted outage."""
        with self._lock:
            self._failures = [f for f in self._failures if route is not None and f.route != route]

    def disconnect(self, route, *, skip=0, times=None):
        """Close the connection of `route` requests without answering (the client sees no response).

        `skip` and `times` work as in `fail`.
        """
        self.fail(route, None, skip=skip, times=times)

    def calls(self, route=None, method=None):
        """Recorded requests, optionally only one route or method."""
        with self._lock:
            return [
                c
                for c in self._calls
                if (route is None or c.route == route) and (method is None or c.method == method)
            ]

    @property
    def uploaded(self):
        """Ids of every file created, in order."""
        with self._lock:
            return list(self._created)

    @property
    def deleted(self):
        """Ids of every file deleted, in order."""
        with self._lock:
            return list(self._deleted)

    def live_files(self):
        """Ids of files uploaded and not deleted."""
        with self._lock:
            return [file_id for file_id in self._created if file_id in self._files]

    def upload_bytes(self, file_id):
        """The bytes that were uploaded as `file_id` (even after it was deleted)."""
        with self._lock:
            return self._archive[file_id]

    @property
    def cancelled(self):
        """Ids of predictions cancelled by a request (not by their Cancel-After deadline)."""
        with self._lock:
            return list(self._cancelled)

    def predictions(self):
        """Every prediction object as a GET would show it now, in creation order."""
        with self._lock:
            now = time.monotonic()
            return [json.loads(json.dumps(self._advance(run, now))) for run in self._runs.values()]

    def billed_s(self, prediction_id=None):
        """Seconds billed (running time) for one prediction, or for all of them; aborted: 0."""
        with self._lock:
            now = time.monotonic()
            runs = [self._runs[prediction_id]] if prediction_id else list(self._runs.values())
            for run in runs:
                self._advance(run, now)
            return sum(run.billed_s for run in runs)

    def running(self):
        """Ids of predictions still starting or processing now (what would still be billing)."""
        return [p["id"] for p in self.predictions() if p["status"] in ("starting", "processing")]

    # --- HTTP ---------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = _InMemoryRequest(environ)
        body = request.get_data(cache=True)
        route, params = "unknown", {}
        for method, pattern, name in ROUTES:
            match = pattern.match(request.path)
            if match and request.method == method:
                route, params = name, match.groupdict()
                break
        payload = None
        if request.mimetype == "application/json" and body:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
        call = Call(
            request.method,
            request.path,
            route,
            {k.lower(): v for k, v in request.headers.items()},
            len(body),
            payload,
        )
        with self._lock:
            self._calls.append(call)
            if not self.keep_records and len(self._calls) > 2000:
                del self._calls[:-1000]
        response = self._answer(request, route, params, payload)
        return response(environ, start_response)

    def _answer(self, request, route, params, payload):
        if route == "unknown":
            return self._problem(404)
        if route != "output" and request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._problem(401)
        failure = self._take_failure(route)
        if failure is not None and failure.status is None:
            self._drop(request)
        if failure is not None:
            return self._problem(failure.status, failure.body, failure.headers)
        return getattr(self, f"_route_{route}")(request, payload=payload, **params)

    def _drop(self, request):
        """End the connection with no status line; werkzeug treats the exception as a dropped client."""
        sock = request.environ["werkzeug.socket"]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionResetError("fake replicate: connection dropped on purpose")

    def _take_failure(self, route):
        with self._lock:
            for failure in self._failures:
                if failure.route != route or failure.times == 0:
                    continue
                if failure.skip > 0:
                    failure.skip -= 1
                    return None
                if failure.times is not None:
                    failure.times -= 1
                return failure
        return None

    def _problem(self, status, body=None, headers=None):
        if status >= 500 and body is None:
            # Gateways in front of the API answer 5xx with plain text, not problem JSON.
            return Response("Internal Server Error", status=status, mimetype="text/plain", headers=headers)
        body = body or PROBLEMS.get(status) or {"title": "Error", "detail": "Request failed.", "status": status}
        return Response(json.dumps(body), status=status, mimetype="application/problem+json", headers=headers)

    def _json(self, obj, status=200, headers=None):
        return Response(json.dumps(obj), status=status, mimetype="application/json", headers=headers)

    # --- Files API ----------------------------------------------------------------------------

    def _route_upload(self, request, payload=None):
        upload = request.files.get("content")
        if upload is None:
            return self._problem(422)
        data = upload.read()
        file_id = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().replace("-", "A").replace("_", "B")
        created = _now()
        obj = {
            "id": file_id,
            "name": upload.filename,
            "content_type": upload.mimetype or "application/octet-stream",
            "size": len(data),
            "etag": secrets.token_hex(16),
            "checksums": {"sha256": secrets.token_hex(32), "md5": secrets.token_hex(16)},
            "metadata": {},
            "created_at": _iso(created),
            "expires_at": _iso(created + timedelta(days=1)),
            "urls": {"get": f"{self.base_url}/v1/files/{file_id}"},
        }
        with self._lock:
            self._files[file_id] = {"data": data, "object": obj}
            if self.keep_records:
                self._archive[file_id] = data
            self._created.append(file_id)
        return self._json(obj, status=201)

    def _route_list_files(self, request, payload=None):
        with self._lock:
            results = [f["object"] for f in self._files.values()]
        return self._json({"next": None, "previous": None, "results": results})

    def _route_file(self, request, file_id, payload=None):
        with self._lock:
            stored = self._files.get(file_id)
        return self._json(stored["object"]) if stored else self._problem(404)

    def _route_delete(self, request, file_id, payload=None):
        with self._lock:
            if self._files.pop(file_id, None) is None:
                return self._problem(404)
            self._deleted.append(file_id)
        return Response(b"", status=204, mimetype="text/plain")

    # --- predictions ----------------------------------------------------------------------------

    def _route_create(self, request, payload=None, owner=None, name=None, deployment_owner=None,
                      deployment_name=None):
        payload = payload if isinstance(payload, dict) else {}
        inputs = payload.get("input") or {}
        if deployment_owner:
            model = self.deployments.get(f"{deployment_owner}/{deployment_name}")
            if model is None:
                return self._problem(404)
            version = secrets.token_hex(32)
        elif owner:
            model, version = f"{owner}/{name}", "dp-" + secrets.token_hex(16)
        else:
            version = payload.get("version")
            if not version:
                return self._problem(422)
            model = self.versions.get(version, f"unknown/{str(version)[:8]}")
        invalid = self._invalid_input(model, inputs)
        if invalid:
            return self._problem(422, invalid)
        deadline_s = math.inf
        if "Cancel-After" in request.headers:
            deadline_s = parse_duration(request.headers["Cancel-After"])
            if deadline_s is None:
                return self._problem(400, {"title": "Bad request", "status": 400,
                                           "detail": "Cancel-After must be a duration such as 30s or 1m."})
        created = time.monotonic()
        prediction_id = _new_id()
        obj = {
            "id": prediction_id,
            "model": model,
            "version": version,
            "input": inputs,
            "logs": "",
            "output": None,
            "data_removed": False,
            "error": None,
            "status": "starting",
            "created_at": _iso(_now()),
            "urls": {
                "cancel": f"{self.base_url}/v1/predictions/{prediction_id}/cancel",
                "get": f"{self.base_url}/v1/predictions/{prediction_id}",
                "stream": f"{self.base_url}/v1/streams/{prediction_id}",
                "web": f"https://replicate.com/p/{prediction_id}",
            },
        }
        script = Script(**vars(self.script))
        source = self._input_image(inputs.get("image"))
        run = self._schedule(obj, script, model, source, created, created + deadline_s)
        if source is not None and run.outcome == "succeeded" and script.outcome == "succeeded":
            run.result = self._output_bytes(obj, script, source)
        with self._lock:
            self._runs[prediction_id] = run
        if script.create_delay_s:
            time.sleep(script.create_delay_s)
        headers = {}
        prefer = request.headers.get("Prefer", "")
        wait = _wait_seconds(prefer)
        if wait is not None:
            headers["Preference-Applied"] = prefer
            if script.sync_output_while_processing:
                with self._lock:
                    self._advance(run, time.monotonic())
                    self._publish(run)
                    obj["status"] = "processing"
                    obj.setdefault("started_at", _iso(_now()))
                    return self._json(json.loads(json.dumps(obj)), status=201, headers=headers)
            if script.polls == 0:  # a scripted "answer processing first" skips the wait
                run.ended.wait(max(0.0, min(created + min(wait, self.wait_cap_s), run.deadline_at,
                                            run.done_at) - time.monotonic()))
        with self._lock:
            answer = json.loads(json.dumps(self._advance(run, time.monotonic())))
        return self._json(answer, status=201, headers=headers)

    def _invalid_input(self, model, inputs):
        """A 422 body when the input breaks the model's schema, else None."""
        if model.lower() == "bria/eraser" and "mask_type" in inputs and inputs["mask_type"] not in MASK_TYPES:
            return {
                "title": "Input validation failed", "status": 422,
                "detail": "- input.mask_type: input.mask_type must be one of the following: \"manual\", \"automatic\"",
                "invalid_fields": [{"type": "enum", "field": "input.mask_type",
                                    "description": "input.mask_type must be one of the following: \"manual\", \"automatic\""}],
            }
        return None

    def _schedule(self, obj, script, model, source, created, deadline_at):
        """When the prediction starts and ends, from the model's timing, its state and the script."""
        timing = self.timing(model)
        megapixels = source.width * source.height / 1e6 if source is not None else 0.0
        with self._lock:
            state = self._warm.setdefault(model.lower(), {"booting_until": -math.inf, "warm_until": -math.inf})
            if created < state["booting_until"]:
                start_at = state["booting_until"]  # the boot already under way
            elif created <= state["warm_until"]:
                start_at = created
            else:
                start_at = state["booting_until"] = created + timing.cold_start_s
        outcome, error = script.outcome, None
        run_s = timing.run_s(megapixels)
        if source is None:
            outcome, error, run_s = "failed", "input.image could not be downloaded", timing.base_s
        elif timing.max_mp is not None and megapixels > timing.max_mp:
            outcome, error, run_s = "failed", OOM_ERROR, timing.base_s  # out of memory on the first allocation
        elif outcome == "failed":
            error = MODEL_ERROR
        done_at = start_at + run_s
        if script.never_finish or script.polls:
            done_at = math.inf
        with self._lock:
            finite_end = done_at if done_at < math.inf else start_at
            state["warm_until"] = max(state["warm_until"], finite_end + timing.idle_s)
        return _Run(obj, script, created, start_at, done_at, outcome, error, deadline_at, pending=script.polls)

    def _advance(self, run, now):
        """Bring the prediction's object to time `now` (call under the lock); returns it."""
        obj = run.object
        if run.ended_at is not None:
            return obj
        if run.deadline_at <= min(now, run.done_at):
            # Cancel-After passed: "aborted" before it started, "canceled" while running.
            if run.deadline_at < run.start_at:
                self._end(run, "aborted", run.deadline_at)
            else:
                self._end(run, "canceled", run.deadline_at)
        elif run.done_at <= now:
            self._end(run, run.outcome, run.done_at)
        elif run.start_at <= now:
            obj["status"] = "processing"
            obj.setdefault("started_at", _iso_at(run.start_at))
        return obj

    def _end(self, run, status, at):
        """End the prediction with `status` at monotonic time `at` (under the lock)."""
        obj = run.object
        started = run.start_at <= at and status != "aborted"
        if started:
            obj.setdefault("started_at", _iso_at(run.start_at))
            run.billed_s = max(0.0, at - run.start_at)
        obj["status"] = status
        obj["completed_at"] = _iso_at(at)
        metrics = {"total_time": round(max(0.0, at - run.created), 6)}
        if started:
            metrics["predict_time"] = round(run.billed_s, 6)
        obj["metrics"] = metrics
        obj["webhook_completed"] = None
        if status == "failed":
            obj.update(error=run.error, logs=f"Traceback (most recent call last):\n  ...\n{run.error}")
        elif status == "succeeded":
            self._publish(run)
        else:
            obj["output"] = None
        run.ended_at = at
        run.ended.set()

    def _publish(self, run):
        """Put the model's output where the script says (under the lock)."""
        obj, script = run.object, run.script
        if run.result is None or script.output == "missing":
            obj["output"] = None
            return
        if script.output == "data_url":
            obj["output"] = "data:image/png;base64," + base64.b64encode(run.result).decode()
            return
        filename = "gone.png" if script.output == "not_found" else "out.png"
        if script.output != "not_found":
            self._outputs[(obj["id"], filename)] = run.result
        url = script.output_url or f"{self.base_url}/delivery/{obj['id']}/{filename}"
        if "scunet" in obj["model"] or obj["input"].get("model_name"):
            obj["output"] = {"image_with_added_noise": None, "denoised_image": url}
        elif script.output == "list":
            obj["output"] = [url]
        else:
            obj["output"] = url

    def _route_get(self, request, prediction_id, payload=None):
        with self._lock:
            run = self._runs.get(prediction_id)
            if run is None:
                return self._problem(404)
            now = time.monotonic()
            obj = self._advance(run, now)
            if run.ended_at is None and run.script.polls and not run.script.never_finish:
                if run.pending > 0:
                    run.pending -= 1
                    obj["status"] = "processing"
                    obj.setdefault("started_at", _iso(_now()))
                else:
                    run.start_at, run.done_at = min(run.start_at, now), now
                    self._advance(run, now)
            answer = json.loads(json.dumps(obj))
        return self._json(answer)

    def _route_cancel(self, request, prediction_id, payload=None):
        with self._lock:
            run = self._runs.get(prediction_id)
            if run is None:
                return self._problem(404)
            self._cancelled.append(prediction_id)
            now = time.monotonic()
            self._advance(run, now)
            if run.ended_at is None:
                self._end(run, "canceled", now)
            answer = json.loads(json.dumps(run.object))
        return self._json(answer)

    def _route_output(self, request, prediction_id, filename, payload=None):
        if self.script.redirect_to:
            return Response("", status=302, headers={"Location": self.script.redirect_to})
        with self._lock:
            data = self._outputs.get((prediction_id, filename))
            if data is not None and not self.keep_records:
                del self._outputs[(prediction_id, filename)]
        if data is None:
            return Response("Not Found", status=404, mimetype="text/plain")
        return Response(data, status=200, mimetype="image/png" if data[:4] == b"\x89PNG" else "text/html")

    # --- the "models" ---------------------------------------------------------------------------

    def _output_bytes(self, obj, script, source):
        """The model's output file, as the script wants it."""
        if script.output == "garbage":
            return b"<html><body>502 Bad Gateway</body></html>"
        return _png(self._model(obj, source))

    def _input_image(self, url):
        match = re.search(r"/v1/files/([\w-]+)$", url or "") if isinstance(url, str) else None
        with self._lock:
            stored = self._files.get(match.group(1)) if match else None
        if stored is None:
            return None
        image = Image.open(io.BytesIO(stored["data"]))
        image.load()
        return image

    def _model(self, obj, image):
        model = obj["model"].lower()
        inputs = obj["input"]
        if "background" in model or inputs.get("background_type"):
            cut = image.convert("RGBA")
            alpha = Image.new("L", cut.size, 0)
            box = (cut.width // 4, cut.height // 4, cut.width * 3 // 4, cut.height * 3 // 4)
            ImageDraw.Draw(alpha).ellipse(box, 255)
            cut.putalpha(alpha)
            return cut
        if "mask" in inputs:
            mask = self._input_image(inputs["mask"])
            rgb = image.convert("RGB")
            fill = Image.new("RGB", rgb.size, tuple(int(v) for v in ImageStat.Stat(rgb).mean))
            return Image.composite(fill, rgb, mask.convert("L").resize(rgb.size)) if mask else rgb
        if "scunet" in model or "nafnet" in model or inputs.get("model_name") or inputs.get("task_type"):
            return image.convert("RGB").filter(ImageFilter.GaussianBlur(1))
        return image.convert("RGB")


def _wait_seconds(prefer):
    """The N of `Prefer: wait=N` (bare `wait`: the API's maximum), or None without the header."""
    match = re.match(r"^\s*wait(?:\s*=\s*(\d+))?", prefer or "")
    if not match:
        return None
    return min(int(match.group(1) or REAL_MAX_WAIT_S), REAL_MAX_WAIT_S)
