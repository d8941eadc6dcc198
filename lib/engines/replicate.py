"""The production engine: the three tools as Replicate predictions, through the official client.

One prediction: upload the image (and mask) through the Files API, create the prediction with
`Prefer: wait` and a `Cancel-After` deadline (what is left of the request's budget, so Replicate
stops the run by itself if this function gives up or is killed), poll until it ends or the deadline
passes (then cancel it), download the output from an allowed host (lib.engines.downloads), and
delete every upload whatever happened. A photo over TILE_MAX_PIXELS is denoised in overlapping
tiles (lib.tiles), each its own prediction, several at once; one failing tile cancels the others.

replicate 1.0.7 neither sends per-call headers nor knows the status `aborted` (its pydantic model
refuses it): the Cancel-After header goes out through a request hook, and every prediction answer
is read from its raw JSON, kept by a response hook. Client and transport exceptions become
lib.errors in one place, `_upstream_error`; no message or log line carries the API token, image
bytes or the model's own error text (only prediction ids, statuses and HTTP status codes).
"""

import contextvars
import hashlib
import io
import logging
import math
import re
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import httpx
import replicate
from replicate.exceptions import ReplicateError

from lib import catalog, config, images, tiles
from lib.engines import downloads
from lib.errors import (
    ImgmendError,
    InvalidRequest,
    NoWatermarkFound,
    NotConfigured,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

log = logging.getLogger("imgmend.replicate")  # under "imgmend": its lines reach the platform log

DEFAULT_BASE_URL = "https://api.replicate.com"
MODEL_ENV = {tool: f"REPLICATE_MODEL_{tool.upper()}" for tool in catalog.IDS}
DEPLOYMENT_ENV = {tool: f"REPLICATE_DEPLOYMENT_{tool.upper()}" for tool in catalog.IDS}
DEFAULT_MODELS = {
    # A community model: only `POST /v1/predictions` with a pinned version runs it.
    "denoise": "cszn/scunet:df9a3c1dbc6c1f7f4c2d244f68dffa2699a169cf5e701e0d6a009bf6ff507f26",
    "remove_bg": "bria/remove-background",
    "remove_watermark": "bria/eraser",
}

# Every API call has a bound. Uploads pass timeout=None in the client, so the transport below
# fills these in; a create with Prefer: wait=N gets read=N+0.5 from the client itself.
API_TIMEOUT = httpx.Timeout(10.0, connect=5.0, read=15.0, write=30.0, pool=5.0)
DOWNLOAD_TIMEOUT = downloads.DOWNLOAD_TIMEOUT
MAX_WAIT_S = 60  # the API holds a Prefer: wait request for at most 60 s
# Polling starts only when a run outlives the wait window, i.e. in its last 15 s before the deadline:
# a flat 0.25 s interval wastes at most 0.25 s after the end (the speed budget is L + 300 ms) for at
# most 60 GETs per run, well inside Replicate's 3000 GETs a minute; a 429 on a poll is retried.
POLL_FIRST_S, POLL_MAX_S = 0.25, 0.25
# SCUNet runs the whole input at once and runs out of GPU memory above ~3 MP (cszn/SCUNet#6; the
# fake fails over 3 MP): tiles stay ~15% under that. A 12 MP photo is 3x2 tiles of ~2.3 MP.
TILE_MAX_PIXELS = 2_500_000
TILE_OVERLAP = tiles.DEFAULT_OVERLAP
# A tile's create holds Prefer: wait for at most 10 s, so when one tile fails the others' ids are
# known within 10 s and they can be cancelled; after that a tile polls at 0.25 s doubling to 2 s
# (a 30 s tile costs ~15 GETs, not 120).
TILE_WAIT_S = 10
TILE_POLL_S = (0.25, 2.0)
MAX_OUTPUT_BYTES = downloads.MAX_OUTPUT_BYTES
MAX_PNG_UPLOAD_BYTES = 15 * 1024 * 1024
DELETE_ATTEMPTS = 3
# `aborted`: Cancel-After passed before the prediction started (not billed); `canceled` while running.
TERMINAL = ("succeeded", "failed", "canceled", "aborted")
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
_MODEL_REF = re.compile(r"^([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)(?::([A-Za-z0-9_.-]+))?$")
_DEPLOYMENT_REF = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

# The Cancel-After of the create being sent from this thread (replicate 1.0.7 has no per-call headers).
_cancel_after = contextvars.ContextVar("imgmend_cancel_after", default=None)
# The raw JSON of the last prediction answer this thread received (the client's model drops `aborted`).
_answers = threading.local()


@dataclass(frozen=True)
class Adapter:
    """How one model takes its input and where it puts its image."""

    extra: dict = field(default_factory=dict)  # fixed inputs besides `image` (and `mask`)
    output_key: str | None = None  # the key holding the image when the output is an object
    mask_type: bool = False  # says whether the mask is a user's brush or an algorithm's (bria/eraser)

    def build_input(self, image_url, mask_url=None, mask_type=None):
        """The prediction input for an uploaded image (and mask: `manual` or `automatic`)."""
        inputs = {"image": image_url, **self.extra}
        if mask_url:
            inputs["mask"] = mask_url
            if self.mask_type and mask_type:
                inputs["mask_type"] = mask_type
        return inputs

    def output_url(self, output):
        """The URL of the output image, or None."""
        if self.output_key and isinstance(output, dict):
            output = output.get(self.output_key)
        return _first_url(output)


# Input names and values from each model's API schema on replicate.com (see the report).
ADAPTERS = {
    "bria/remove-background": Adapter(),
    "851-labs/background-remover": Adapter({"format": "png", "background_type": "rgba"}),
    "cszn/scunet": Adapter({"model_name": "real image denoising"}, output_key="denoised_image"),
    "megvii-research/nafnet": Adapter({"task_type": "Image Denoising"}),
    # Bria: "manual" for a mask a user drew with a brush, "automatic" for one an algorithm made.
    "bria/eraser": Adapter(mask_type=True),
    "allenhooo/lama": Adapter(),
}
GENERIC = Adapter()


@dataclass(frozen=True)
class Target:
    """Where a tool's predictions go: a model (and version), or a deployment running it."""

    model: str  # owner/name: its adapter decides the input, also on a deployment
    version: str | None
    deployment: str | None
    adapter: Adapter


@dataclass(frozen=True)
class Snapshot:
    """A prediction as the API last answered, from its raw JSON."""

    id: str
    status: str | None
    output: object = None


class _Stopped(UpstreamError):
    """A tile run was stopped because another tile failed (never reaches the client)."""


class _Flight:
    """The tile predictions of one run, so that the first failure stops all the others."""

    def __init__(self):
        self.failed = threading.Event()
        self._lock = threading.Lock()
        self._live = set()
        self._cancelled = set()

    def started(self, prediction_id):
        """Register a created prediction; False when the run has already failed."""
        with self._lock:
            self._live.add(prediction_id)
        return not self.failed.is_set()

    def ended(self, prediction_id):
        with self._lock:
            self._live.discard(prediction_id)

    def cancel(self, engine, client, prediction_id):
        """Cancel a prediction once, whoever asks first."""
        with self._lock:
            if prediction_id in self._cancelled:
                return
            self._cancelled.add(prediction_id)
        engine._cancel(client, prediction_id)

    def stop_all(self, engine, client):
        """Mark the run failed and cancel every prediction still running."""
        self.failed.set()
        with self._lock:
            live = sorted(self._live - self._cancelled)
        for prediction_id in live:
            self.cancel(engine, client, prediction_id)


class _BoundedTransport(httpx.HTTPTransport):
    """A plain HTTP transport that gives every request a finite timeout."""

    def handle_request(self, request):
        """Send the request with API_TIMEOUT filling any unset timeout."""
        given = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            key: given.get(key) if given.get(key) is not None else default
            for key, default in API_TIMEOUT.as_dict().items()
        }
        return super().handle_request(request)


def _add_cancel_after(request):
    """Request hook: the Cancel-After of the create this thread is sending, on prediction creates only."""
    value = _cancel_after.get()
    if value and request.method == "POST" and request.url.path.endswith("/predictions"):
        request.headers["Cancel-After"] = value


def _raise_api_error(response):
    """Raise the client's ReplicateError for an error answer, keeping the retry_after it drops."""
    if response.status_code < 400:
        return
    response.read()
    try:
        error = ReplicateError.from_response(response)
    except Exception:  # a JSON body that is not an object
        error = ReplicateError(status=response.status_code)
    error.retry_after = _retry_after(response)
    raise error


def _keep_prediction_json(response):
    """Response hook: keep the raw JSON of a prediction answer for this thread (see Snapshot)."""
    path = response.request.url.path
    if "/predictions" not in path or response.status_code >= 400:
        return
    response.read()
    try:
        body = response.json()
    except ValueError:
        body = None
    _answers.body = body if isinstance(body, dict) else None


def _retry_after(response):
    """Seconds to wait from an error answer (`retry_after` in the body, else Retry-After), or None."""
    value = None
    try:
        body = response.json()
        if isinstance(body, dict):
            value = body.get("retry_after")
    except ValueError:
        pass
    if value is None:
        value = response.headers.get("Retry-After")
    try:
        seconds = math.ceil(float(value))
    except (TypeError, ValueError, OverflowError):
        return None
    return min(max(seconds, 1), 3600)


def _validation_errors():
    """The error replicate 1.0.7 raises on an answer its model refuses: its own pydantic's (v1 API)."""
    from replicate import prediction

    return (prediction.pydantic.ValidationError,)


def _answer(call):
    """Make one prediction call and return its answer as a Snapshot, read from the raw JSON.

    The client parses the answer into its own model first, which refuses a status it does not know
    (`aborted`): that ValidationError is expected and the raw answer is used instead.
    """
    _answers.body = None
    try:
        call()
    except _validation_errors():
        pass
    body = getattr(_answers, "body", None)
    _answers.body = None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise UpstreamError()
    return Snapshot(body["id"], body.get("status"), body.get("output"))


def _first_url(value):
    """The first http(s) or data: URL in a model output (a string, list or object), or None."""
    if isinstance(value, str):
        return value if value.startswith(("https://", "http://", "data:")) else None
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            url = _first_url(item)
            if url:
                return url
    return None


def _model_ref(tool):
    """(`owner/name`, version or None) for a tool, from its override variable or the default."""
    variable = MODEL_ENV[tool]
    match = _MODEL_REF.match(config.env(variable, DEFAULT_MODELS[tool]))
    if not match:
        log.error("%s is not owner/name or owner/name:version", variable)
        raise NotConfigured()
    owner, name, version = match.groups()
    return f"{owner}/{name}", version


def _target(tool):
    """Where the tool's predictions go (REPLICATE_DEPLOYMENT_<TOOL> wins over the public model)."""
    model, version = _model_ref(tool)
    deployment = config.env(DEPLOYMENT_ENV[tool])
    if deployment is not None and not _DEPLOYMENT_REF.match(deployment):
        log.error("%s is not owner/name", DEPLOYMENT_ENV[tool])
        raise NotConfigured()
    return Target(model, version, deployment, ADAPTERS.get(model.lower(), GENERIC))


def _encode_image(image):
    """Upload bytes: lossless PNG, or JPEG q95 when the PNG would pass ~15 MB; never any metadata."""
    img = image if image.mode in ("RGB", "RGBA", "L") else image.convert("RGB")
    # A photo's PNG is rarely under half its raw size: skip a PNG that cannot fit (a 12 MP photo
    # would spend ~1 s and ~40 MB on a 20 MB PNG only to fall back to JPEG).
    if img.width * img.height * len(img.getbands()) <= 2 * MAX_PNG_UPLOAD_BYTES:
        buf = io.BytesIO()
        img.save(buf, "PNG", compress_level=3, icc_profile=None)
        if buf.tell() <= MAX_PNG_UPLOAD_BYTES:
            return buf, "image.png", "image/png"
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=95, icc_profile=None, exif=b"", comment=b"")
    return buf, "image.jpg", "image/jpeg"


def _encode_mask(mask):
    """The mask as an L-mode PNG (white = remove)."""
    buf = io.BytesIO()
    mask.convert("L").save(buf, "PNG", compress_level=3, icc_profile=None)
    return buf, "mask.png", "image/png"


def _upstream_error(exc):
    """The lib.errors equivalent of a client or transport exception: the one place they are mapped."""
    if isinstance(exc, ReplicateError):
        status = exc.status
        log.warning("replicate: API answered HTTP %s", status)
        if status in (401, 403):
            return UpstreamUnavailable("The AI service is misconfigured on our side. Please try again later.")
        if status == 402:
            return UpstreamUnavailable("The AI service is temporarily unavailable. Please try again later.")
        if status == 429:
            retry_after = getattr(exc, "retry_after", None)
            return UpstreamUnavailable(headers={"Retry-After": str(retry_after)} if retry_after else None)
        if status is not None and status >= 500:
            return UpstreamUnavailable()
        return UpstreamError()
    log.warning("replicate: %s", type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout()
    if isinstance(exc, httpx.TransportError):
        return UpstreamUnavailable()
    return UpstreamError()


def make_client(token, base_url=DEFAULT_BASE_URL, transport=None):
    """A replicate client with a bound on every call, no hidden retries, Cancel-After on creates.

    `transport` replaces the network (tests pass an httpx.MockTransport), as replicate.Client's own
    `transport` argument does; by default every request gets API_TIMEOUT's bounds.
    """
    return replicate.Client(
        api_token=token,
        base_url=base_url,
        timeout=API_TIMEOUT,
        # The client's RetryTransport sleeps on 429/503/504 for GET/DELETE (backoff up to 60 s,
        # Retry-After unbounded) whatever our deadline; this mount replaces it, and the poll and
        # delete loops below retry within their own budgets.
        mounts={"all://": transport or _BoundedTransport()},
        event_hooks={"request": [_add_cancel_after], "response": [_raise_api_error, _keep_prediction_json]},
    )


def make_downloads(transport=None):
    """The HTTP client for model outputs: separate, so output hosts never see the API token."""
    return downloads.make_client(transport)


class ReplicateEngine:
    """Runs the tools as predictions on Replicate (production).

    `client` (see make_client) and `downloads` (see make_downloads) are built on first use from
    the environment unless given; tests inject clients on an httpx.MockTransport. `deadline_s`
    defaults to config.REPLICATE_DEADLINE_S, counted from options["started"] (the request's start,
    set by lib.pipeline) or from the call; tests pass a short one and small tile figures.
    """

    name = "replicate"

    def __init__(self, client=None, downloads=None, *, deadline_s=None, poll_interval_s=(POLL_FIRST_S, POLL_MAX_S),
                 tile_max_pixels=TILE_MAX_PIXELS, tile_overlap=TILE_OVERLAP, tile_wait_s=TILE_WAIT_S,
                 tile_poll_s=TILE_POLL_S, tile_concurrency=None):
        self.deadline_s = deadline_s
        self.poll_first_s, self.poll_max_s = poll_interval_s
        self.tile_max_pixels = tile_max_pixels
        self.tile_overlap = tile_overlap
        self.tile_wait_s = tile_wait_s
        self.tile_poll_s = tile_poll_s
        self.tile_concurrency = tile_concurrency  # None: config.replicate_tile_concurrency(), per run
        self._lock = threading.Lock()
        self._given_client = client
        self._client = None
        self._client_key = None
        self._http = downloads

    def run(self, tool, image, options=None):
        """Run one tool on a validated image: RGBA for remove_bg, RGB otherwise (size as the model gave)."""
        if tool not in MODEL_ENV:
            raise InvalidRequest("Unknown tool.")
        options = options or {}
        started = options.get("started") or time.monotonic()
        deadline = started + (self.deadline_s if self.deadline_s is not None else config.REPLICATE_DEADLINE_S)
        client = self._api()
        target = _target(tool)
        mask = mask_type = None
        if tool == "remove_watermark":
            mask, mask_type = options.get("mask"), options.get("mask_type")
            if mask is None:
                mask, mask_type = self.detect_watermark(image), "automatic"
                if images.mask_is_empty(mask):
                    raise NoWatermarkFound()  # nothing to erase: no prediction, nothing spent
            mask_type = mask_type or "manual"
        try:
            if tool == "denoise" and image.width * image.height > self.tile_max_pixels:
                result = self._run_tiled(client, target, image, deadline)
            else:
                result = self._predict(client, target, image, mask, mask_type, deadline)
        except ImgmendError:
            raise
        except Exception as exc:
            raise _upstream_error(exc) from None
        wanted = "RGBA" if tool == "remove_bg" else "RGB"
        return result if result.mode == wanted else result.convert(wanted)  # no 36-48 MB copy when it fits

    def detect_watermark(self, image):
        """An L mask (255 = watermark) from the learned detector, here (no hosted model detects marks).

        Without its weights or numpy, the Pillow heuristic suggests one instead.
        """
        from lib import heuristic_mask, watermark_detector

        if watermark_detector.available():
            return watermark_detector.detect_watermark(image)
        return heuristic_mask.detect_watermark(image)

    # --- one prediction -------------------------------------------------------------------------

    def _predict(self, client, target, image, mask, mask_type, deadline, flight=None):
        """One prediction from upload to decoded output; every upload is deleted whatever happens."""
        tiled = flight is not None
        uploads = []
        try:
            image_url = self._upload(client, _encode_image(image), uploads)
            mask_url = self._upload(client, _encode_mask(mask), uploads) if mask is not None else None
            if tiled and flight.failed.is_set():
                raise _Stopped()
            inputs = target.adapter.build_input(image_url, mask_url, mask_type)
            prediction, cancel_at = self._create(client, target, inputs, deadline,
                                                 self.tile_wait_s if tiled else MAX_WAIT_S)
            if tiled and not flight.started(prediction.id):
                flight.cancel(self, client, prediction.id)
                raise _Stopped()
            try:
                prediction = self._settle(client, prediction, target.adapter, deadline, flight)
            finally:
                if tiled:
                    flight.ended(prediction.id)
            if tiled and flight.failed.is_set():
                raise _Stopped()  # cancelled because another tile failed: that one's error is the answer
            log.info("replicate: prediction %s %s", prediction.id, prediction.status)
            self._check_outcome(prediction, cancel_at, target.adapter)
            url = target.adapter.output_url(prediction.output)
            if url is None:
                log.warning("replicate: prediction %s has no image output", prediction.id)
                raise UpstreamError("The AI model returned no image.")
            return images.decode_model_output(downloads.fetch(self._downloads(), url))
        except ImgmendError:
            raise
        except Exception as exc:
            raise _upstream_error(exc) from None
        finally:
            self._delete_uploads(client, uploads)

    def _check_outcome(self, prediction, cancel_at, adapter):
        """Raise the contract error for a prediction that did not succeed."""
        status = prediction.status
        if status == "succeeded" or (status == "processing" and adapter.output_url(prediction.output)):
            return  # (sync mode can answer "processing" once every output file exists)
        if status == "aborted" or (status == "canceled" and time.monotonic() >= cancel_at - 1.0):
            # Replicate stopped it at our Cancel-After: out of time, not a broken model.
            raise UpstreamTimeout()
        raise UpstreamError()

    # --- tiles ------------------------------------------------------------------------------------

    def _run_tiled(self, client, target, image, deadline):
        """Denoise in overlapping tiles under tile_max_pixels, several predictions at once, blended."""
        grid = tiles.plan(image.width, image.height, self.tile_max_pixels, self.tile_overlap)
        boxes = grid.boxes()
        concurrency = self.tile_concurrency or config.replicate_tile_concurrency()
        workers = max(1, min(len(boxes), concurrency))
        log.info("replicate: %dx%d in %d tiles, %d at a time", image.width, image.height, len(boxes), workers)
        flight = _Flight()
        results = [None] * len(boxes)

        def one(index, box):
            if flight.failed.is_set():
                raise _Stopped()
            results[index] = self._predict(client, target, image.crop(box), None, None, deadline, flight)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imgmend-tile") as pool:
            futures = [pool.submit(one, index, box) for index, box in enumerate(boxes)]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                flight.stop_all(self, client)  # stop paying for tiles nobody will use
                for future in futures:
                    future.cancel()
        errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
        if errors:
            real = [e for e in errors if not isinstance(e, _Stopped)]
            error = (real or errors)[0]
            raise error if isinstance(error, ImgmendError) else _upstream_error(error)
        return tiles.blend(grid, results)

    # --- the API calls ----------------------------------------------------------------------------

    def _api(self):
        """The replicate client: the one given, else one for the current token and base URL."""
        if self._given_client is not None:
            return self._given_client
        token = config.env("REPLICATE_API_TOKEN")
        if not token:
            raise NotConfigured()
        base_url = config.env("REPLICATE_BASE_URL", DEFAULT_BASE_URL)
        key = (hashlib.sha256(token.encode()).hexdigest(), base_url)
        with self._lock:
            if self._client is None or self._client_key != key:
                self._client = make_client(token, base_url)
                self._client_key = key
            return self._client

    def _downloads(self):
        with self._lock:
            if self._http is None:
                self._http = make_downloads()
            return self._http

    def _upload(self, client, payload, uploads):
        """Upload one file through the Files API, remember its id for deletion, return its URL."""
        buf, filename, content_type = payload
        uploaded = client.files.create(buf, filename=filename, content_type=content_type)
        uploads.append(uploaded.id)
        url = (uploaded.urls or {}).get("get")
        if not url:
            raise UpstreamError()
        return url

    def _create(self, client, target, inputs, deadline, wait_cap):
        """Create the prediction with Prefer: wait and Cancel-After; (Snapshot, when Replicate stops it)."""
        remaining = deadline - time.monotonic()
        if remaining < 1:
            raise UpstreamTimeout()
        wait = max(1, min(MAX_WAIT_S, wait_cap, int(remaining)))
        # Rounded up: our own cancel at the deadline comes first, Replicate's is the backstop for a
        # create that timed out (no id to cancel) or a function killed at maxDuration.
        cancel_after = max(1, math.ceil(remaining))
        sent = time.monotonic()
        token = _cancel_after.set(f"{cancel_after}s")
        try:
            if target.deployment:
                call = lambda: client.deployments.predictions.create(  # noqa: E731
                    deployment=target.deployment, input=inputs, wait=wait)
            elif target.version:
                call = lambda: client.predictions.create(version=target.version, input=inputs, wait=wait)  # noqa: E731
            else:
                call = lambda: client.models.predictions.create(model=target.model, input=inputs, wait=wait)  # noqa: E731
            return _answer(call), sent + cancel_after
        finally:
            _cancel_after.reset(token)

    def _settle(self, client, prediction, adapter, deadline, flight=None):
        """The prediction once it ends; past the deadline it is cancelled and UpstreamTimeout raised."""
        # Sync mode answers as soon as all file outputs exist, sometimes still "processing".
        if prediction.status == "processing" and adapter.output_url(prediction.output):
            return prediction
        try:
            return self._poll(client, prediction, deadline, flight)
        except BaseException:
            # Nobody will read its output: stop paying for it.
            if flight is not None:
                flight.cancel(self, client, prediction.id)
            else:
                self._cancel(client, prediction.id)
            raise

    def _poll(self, client, prediction, deadline, flight=None):
        """Poll until the prediction ends, the deadline passes or (tiles) another tile fails."""
        first, most = self.tile_poll_s if flight is not None else (self.poll_first_s, self.poll_max_s)
        delay = first
        while prediction.status not in TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("replicate: prediction %s %s at the deadline", prediction.id, prediction.status)
                raise UpstreamTimeout()
            if flight is None:
                time.sleep(min(delay, remaining))
            elif flight.failed.wait(min(delay, remaining)):
                raise _Stopped()
            delay = min(delay * 2, most)
            try:
                prediction = _answer(lambda: client.predictions.get(prediction.id))  # noqa: B023
            except ReplicateError as exc:
                if exc.status not in TRANSIENT_STATUS:
                    raise
                log.info("replicate: poll of %s answered HTTP %s, retrying", prediction.id, exc.status)
            except httpx.TransportError as exc:
                log.info("replicate: poll of %s failed (%s), retrying", prediction.id, type(exc).__name__)
        return prediction

    def _cancel(self, client, prediction_id):
        """Cancel a prediction, best effort (its answer may be `aborted`, which the client refuses)."""
        try:
            _answer(lambda: client.predictions.cancel(prediction_id))
            log.info("replicate: prediction %s cancelled", prediction_id)
        except Exception as exc:
            log.warning("replicate: cancel of %s failed (%s)", prediction_id, type(exc).__name__)

    def _delete_uploads(self, client, file_ids):
        """Delete every upload, retrying transient failures briefly; never raises (logs instead)."""
        for file_id in file_ids:
            for attempt in range(1, DELETE_ATTEMPTS + 1):
                try:
                    client.files.delete(file_id)
                    break
                except ReplicateError as exc:
                    if exc.status == 404:
                        break  # already gone
                    transient, why = exc.status in TRANSIENT_STATUS, f"HTTP {exc.status}"
                except Exception as exc:
                    transient, why = isinstance(exc, httpx.TransportError), type(exc).__name__
                if not transient or attempt == DELETE_ATTEMPTS:
                    log.error("replicate: upload %s not deleted (%s)", file_id, why)
                    break
                time.sleep(0.2 * attempt)
