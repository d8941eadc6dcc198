"""A loopback fake of the Replicate HTTP API: real sockets, JSON shaped like the recorded fixtures.

It serves what the engine uses — the Files API, official-model and version predictions with
`Prefer: wait`, polling, cancel — plus a delivery route for outputs. Its "models" make a real image
from the uploaded input (remove_bg: RGBA cut-out; denoise: a slightly blurred copy; eraser/lama:
the masked area filled), so the engine's download and decode path runs for real. Tests script
failures (`fail`), slow or endless predictions and bad outputs (`script`), and read every request
back (`calls`, `live_files`, `cancelled`). `disconnect` makes a route end the connection with no answer at
all, as a proxy reset or a crashed gateway does.
"""

import base64
import io
import json
import re
import secrets
import socket
import struct
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from PIL import Image, ImageDraw, ImageFilter, ImageStat
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

TOKEN = "r8_test_F4keT0ken_9c1d2e3f4a5b6c7d8e9f"

# RFC 7807 bodies as the API sends them (401: run__invalid-token.yaml; the others per design.md).
PROBLEMS = {
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

ROUTES = [
    ("POST", re.compile(r"^/v1/files$"), "upload"),
    ("GET", re.compile(r"^/v1/files$"), "list_files"),
    ("GET", re.compile(r"^/v1/files/(?P<file_id>[\w-]+)$"), "file"),
    ("DELETE", re.compile(r"^/v1/files/(?P<file_id>[\w-]+)$"), "delete"),
    ("POST", re.compile(r"^/v1/models/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)/predictions$"), "create"),
    ("POST", re.compile(r"^/v1/predictions$"), "create"),
    ("GET", re.compile(r"^/v1/predictions/(?P<prediction_id>\w+)$"), "get"),
    ("POST", re.compile(r"^/v1/predictions/(?P<prediction_id>\w+)/cancel$"), "cancel"),
    ("GET", re.compile(r"^/delivery/(?P<prediction_id>\w+)/(?P<filename>[\w.-]+)$"), "output"),
]


@dataclass
class Script:
    """How the next predictions behave."""

    outcome: str = "succeeded"  # final status: succeeded | failed | canceled
    polls: int = 0  # GETs answered "processing" first (0: done within Prefer: wait)
    never_finish: bool = False  # "processing" until cancelled
    output: str = "image"  # image | garbage | missing | not_found | data_url | list
    sync_output_while_processing: bool = False  # Prefer: wait answer has the output, status "processing"


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


def _new_id(length=26):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _png(image):
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


class FakeReplicate:
    """The fake API server; `start()` binds 127.0.0.1 on a free port, `stop()` shuts it down."""

    def __init__(self, token=TOKEN):
        self.token = token
        self.script = Script()
        self.versions = {}  # version id -> "owner/name", for the `model` field of version predictions
        self.base_url = None
        self._lock = threading.Lock()
        self._server = None
        self._thread = None
        self._files = {}  # id -> {"data", "name", "content_type", "object"}
        self._archive = {}  # id -> uploaded bytes, kept after deletion so tests can inspect them
        self._deleted = []
        self._created = []
        self._predictions = {}  # id -> {"object": dict, "pending": int}
        self._outputs = {}  # prediction id -> bytes
        self._cancelled = []
        self._failures = []
        self._calls = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self):
        """Serve on a free loopback port in a daemon thread."""
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    # --- scripting and inspection ---------------------------------------------------------------

    def fail(self, route, status, *, skip=0, times=None, body=None, headers=None):
        """Answer `route` (upload, delete, create, get, cancel, output, file) with `status`.

        `skip` requests pass first; `times` limits how many fail (None: all later ones).
        """
        with self._lock:
            self._failures.append(_Failure(route, status, skip, times, body, dict(headers or {})))

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
        """Ids of predictions cancelled."""
        with self._lock:
            return list(self._cancelled)

    def predictions(self):
        """Every prediction object, in creation order."""
        with self._lock:
            return [json.loads(json.dumps(p["object"])) for p in self._predictions.values()]

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

    def _route_create(self, request, payload=None, owner=None, name=None):
        payload = payload if isinstance(payload, dict) else {}
        inputs = payload.get("input") or {}
        if owner:
            model, version = f"{owner}/{name}", "dp-" + secrets.token_hex(16)
        else:
            version = payload.get("version")
            if not version:
                return self._problem(422)
            model = self.versions.get(version, f"unknown/{str(version)[:8]}")
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
            },
        }
        script = self.script
        entry = {"object": obj, "pending": script.polls, "script": Script(**vars(script))}
        with self._lock:
            self._predictions[prediction_id] = entry
        headers = {}
        prefer = request.headers.get("Prefer", "")
        if prefer.startswith("wait"):
            headers["Preference-Applied"] = prefer
            obj["status"] = "processing"
            obj["started_at"] = _iso(_now())
            if entry["script"].sync_output_while_processing:
                self._produce(entry)
                obj["status"] = "processing"
            elif not entry["script"].never_finish and entry["pending"] == 0:
                self._finish(entry)
        return self._json(obj, status=201, headers=headers)

    def _route_get(self, request, prediction_id, payload=None):
        with self._lock:
            entry = self._predictions.get(prediction_id)
        if entry is None:
            return self._problem(404)
        obj = entry["object"]
        if obj["status"] not in ("succeeded", "failed", "canceled"):
            if entry["script"].never_finish:
                obj["status"] = "processing"
            elif entry["pending"] > 0:
                entry["pending"] -= 1
                obj["status"] = "processing"
                obj.setdefault("started_at", _iso(_now()))
            else:
                self._finish(entry)
        return self._json(obj)

    def _route_cancel(self, request, prediction_id, payload=None):
        with self._lock:
            entry = self._predictions.get(prediction_id)
            if entry is None:
                return self._problem(404)
            self._cancelled.append(prediction_id)
        obj = entry["object"]
        if obj["status"] not in ("succeeded", "failed", "canceled"):
            obj.update(status="canceled", output=None, completed_at=_iso(_now()))
        return self._json(obj)

    def _route_output(self, request, prediction_id, filename, payload=None):
        with self._lock:
            data = self._outputs.get((prediction_id, filename))
        if data is None:
            return Response("Not Found", status=404, mimetype="text/plain")
        return Response(data, status=200, mimetype="image/png" if data[:4] == b"\x89PNG" else "text/html")

    # --- the "models" ---------------------------------------------------------------------------

    def _finish(self, entry):
        obj, script = entry["object"], entry["script"]
        obj["completed_at"] = _iso(_now())
        obj["metrics"] = {"predict_time": 0.01, "total_time": 0.02}
        if script.outcome == "failed":
            obj.update(status="failed", error=MODEL_ERROR, logs=f"Traceback ...\n{MODEL_ERROR}")
        elif script.outcome == "canceled":
            obj.update(status="canceled")
        else:
            self._produce(entry)
            obj["status"] = "succeeded" if obj["status"] != "failed" else "failed"

    def _produce(self, entry):
        """Run the fake model on the uploaded input and publish the output as the script says."""
        obj, script = entry["object"], entry["script"]
        source = self._input_image(obj["input"].get("image"))
        if source is None:
            obj.update(status="failed", error="input.image could not be downloaded")
            return
        if script.output == "missing":
            obj["output"] = None
            return
        if script.output == "garbage":
            data = b"<html><body>502 Bad Gateway</body></html>"
        else:
            data = _png(self._model(obj, source))
        if script.output == "data_url":
            obj["output"] = "data:image/png;base64," + base64.b64encode(data).decode()
            return
        filename = "gone.png" if script.output == "not_found" else "out.png"
        if script.output != "not_found":
            with self._lock:
                self._outputs[(obj["id"], filename)] = data
        url = f"{self.base_url}/delivery/{obj['id']}/{filename}"
        if "scunet" in obj["model"] or obj["input"].get("model_name"):
            obj["output"] = {"image_with_added_noise": None, "denoised_image": url}
        elif script.output == "list":
            obj["output"] = [url]
        else:
            obj["output"] = url

    def _input_image(self, url):
        match = re.search(r"/v1/files/([\w-]+)$", url or "")
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
