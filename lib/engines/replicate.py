"""The production engine: the three tools as Replicate predictions, through the official client.

One run: upload the image (and mask) through the Files API, create the prediction with
`Prefer: wait`, poll until it ends or the deadline passes (then cancel it), download and decode
the output, and delete every upload whatever happened. Client and transport exceptions become
lib.errors in one place, `_upstream_error`; no message or log line carries the API token, image
bytes or the model's own error text (only prediction ids, statuses and HTTP status codes).
"""

import base64
import binascii
import hashlib
import io
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field

import httpx
import replicate
from replicate.exceptions import ReplicateError

from lib import catalog, config, images
from lib.errors import (
    ImgmendError,
    InvalidRequest,
    NotConfigured,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

log = logging.getLogger("imgmend.replicate")  # under "imgmend": its lines reach the platform log

DEFAULT_BASE_URL = "https://api.replicate.com"
MODEL_ENV = {tool: f"REPLICATE_MODEL_{tool.upper()}" for tool in catalog.IDS}
DEFAULT_MODELS = {
    # A community model: only `POST /v1/predictions` with a pinned version runs it.
    "denoise": "cszn/scunet:df9a3c1dbc6c1f7f4c2d244f68dffa2699a169cf5e701e0d6a009bf6ff507f26",
    "remove_bg": "bria/remove-background",
    "remove_watermark": "bria/eraser",
}

# Every API call has a bound. Uploads pass timeout=None in the client, so the transport below
# fills these in; a create with Prefer: wait=N gets read=N+0.5 from the client itself.
API_TIMEOUT = httpx.Timeout(10.0, connect=5.0, read=15.0, write=30.0, pool=5.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(15.0, connect=5.0, pool=5.0)
MAX_WAIT_S = 60  # the API holds a Prefer: wait request for at most 60 s
# Polling starts only when a run outlives the wait window, i.e. in its last 15 s before the deadline:
# a flat 0.25 s interval wastes at most 0.25 s after the end (the speed budget is L + 300 ms) for at
# most 60 GETs per run, well inside Replicate's 3000 GETs a minute; a 429 on a poll is retried.
POLL_FIRST_S, POLL_MAX_S = 0.25, 0.25
MAX_OUTPUT_BYTES = 50 * 1024 * 1024
MAX_PNG_UPLOAD_BYTES = 15 * 1024 * 1024
DELETE_ATTEMPTS = 3
TERMINAL = ("succeeded", "failed", "canceled")
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
_MODEL_REF = re.compile(r"^([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)(?::([A-Za-z0-9_.-]+))?$")


@dataclass(frozen=True)
class Adapter:
    """How one model takes its input and where it puts its image."""

    extra: dict = field(default_factory=dict)  # fixed inputs besides `image` (and `mask`)
    output_key: str | None = None  # the key holding the image when the output is an object

    def build_input(self, image_url, mask_url=None):
        """The prediction input for an uploaded image (and mask)."""
        inputs = {"image": image_url, **self.extra}
        if mask_url:
            inputs["mask"] = mask_url
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
    "bria/eraser": Adapter(),
    "allenhooo/lama": Adapter(),
}
GENERIC = Adapter()


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


def _decode_data_url(url):
    """The bytes of a base64 data: URL output."""
    header, _, payload = url.partition(",")
    if ";base64" not in header or len(payload) > MAX_OUTPUT_BYTES * 4 // 3 + 4:
        raise UpstreamError("The AI model returned an unusable result.")
    try:
        return base64.b64decode(payload)
    except (binascii.Error, ValueError):
        raise UpstreamError("The AI model returned an unusable result.") from None


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
    """A replicate client with a bound on every call and no hidden retries.

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
        event_hooks={"response": [_raise_api_error]},
    )


def make_downloads(transport=None):
    """The HTTP client for model outputs: separate, so output hosts never see the API token."""
    return httpx.Client(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True, max_redirects=5, transport=transport)


class ReplicateEngine:
    """Runs the tools as predictions on Replicate (production).

    `client` (see make_client) and `downloads` (see make_downloads) are built on first use from
    the environment unless given; tests inject clients on an httpx.MockTransport.
    """

    name = "replicate"

    def __init__(self, client=None, downloads=None, *, deadline_s=None, poll_interval_s=(POLL_FIRST_S, POLL_MAX_S)):
        # deadline_s defaults to config.REPLICATE_DEADLINE_S, read per run; tests pass a short one.
        self.deadline_s = deadline_s
        self.poll_first_s, self.poll_max_s = poll_interval_s
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
        started = time.monotonic()
        client = self._api()
        model, version = _model_ref(tool)
        mask = None
        if tool == "remove_watermark":
            mask = options.get("mask")
            if mask is None:
                mask = self.detect_watermark(image)
        adapter = ADAPTERS.get(model.lower(), GENERIC)
        deadline = started + (self.deadline_s if self.deadline_s is not None else config.REPLICATE_DEADLINE_S)
        uploads = []
        try:
            image_url = self._upload(client, _encode_image(image), uploads)
            mask_url = self._upload(client, _encode_mask(mask), uploads) if mask is not None else None
            inputs = adapter.build_input(image_url, mask_url)
            prediction = self._create(client, model, version, inputs, deadline)
            prediction = self._settle(client, prediction, adapter, deadline)
            log.info("replicate: %s prediction %s %s", tool, prediction.id, prediction.status)
            if prediction.status in ("failed", "canceled"):
                raise UpstreamError()
            url = adapter.output_url(prediction.output)
            if url is None:
                log.warning("replicate: prediction %s has no image output", prediction.id)
                raise UpstreamError("The AI model returned no image.")
            result = images.decode_model_output(self._download(url))
        except ImgmendError:
            raise
        except Exception as exc:
            raise _upstream_error(exc) from None
        finally:
            self._delete_uploads(client, uploads)
        wanted = "RGBA" if tool == "remove_bg" else "RGB"
        return result if result.mode == wanted else result.convert(wanted)  # no 36-48 MB copy when it fits

    def detect_watermark(self, image):
        """An L mask (255 = watermark) from the Pillow detector: no verified Replicate model does this."""
        from lib import heuristic_mask

        return heuristic_mask.detect_watermark(image)

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

    def _upload(self, client, payload, uploads):
        """Upload one file through the Files API, remember its id for deletion, return its URL."""
        buf, filename, content_type = payload
        uploaded = client.files.create(buf, filename=filename, content_type=content_type)
        uploads.append(uploaded.id)
        url = (uploaded.urls or {}).get("get")
        if not url:
            raise UpstreamError()
        return url

    def _create(self, client, model, version, inputs, deadline):
        """Create the prediction with Prefer: wait (official model, or pinned version)."""
        remaining = deadline - time.monotonic()
        if remaining < 1:
            raise UpstreamTimeout()
        wait = max(1, min(MAX_WAIT_S, int(remaining)))
        if version:
            return client.predictions.create(version=version, input=inputs, wait=wait)
        return client.models.predictions.create(model=model, input=inputs, wait=wait)

    def _settle(self, client, prediction, adapter, deadline):
        """The prediction once it ends; past the deadline it is cancelled and UpstreamTimeout raised."""
        # Sync mode answers as soon as all file outputs exist, sometimes still "processing".
        if prediction.status == "processing" and adapter.output_url(prediction.output):
            return prediction
        try:
            return self._poll(client, prediction, deadline)
        except BaseException:
            self._cancel(client, prediction.id)  # nobody will read its output: stop paying for it
            raise

    def _poll(self, client, prediction, deadline):
        """Poll with a growing interval until the prediction ends or the deadline passes."""
        delay = self.poll_first_s
        while prediction.status not in TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("replicate: prediction %s %s at the deadline", prediction.id, prediction.status)
                raise UpstreamTimeout()
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, self.poll_max_s)
            try:
                prediction = client.predictions.get(prediction.id)
            except ReplicateError as exc:
                if exc.status not in TRANSIENT_STATUS:
                    raise
                log.info("replicate: poll of %s answered HTTP %s, retrying", prediction.id, exc.status)
            except httpx.TransportError as exc:
                log.info("replicate: poll of %s failed (%s), retrying", prediction.id, type(exc).__name__)
        return prediction

    def _cancel(self, client, prediction_id):
        """Cancel a prediction, best effort."""
        try:
            client.predictions.cancel(prediction_id)
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

    def _download(self, url):
        """The output's bytes: a data: URL, or a GET without our token, capped at MAX_OUTPUT_BYTES."""
        if url.startswith("data:"):
            return _decode_data_url(url)
        with self._lock:
            if self._http is None:
                self._http = make_downloads()
            http = self._http
        with http.stream("GET", url) as response:
            if response.status_code != 200:
                log.warning("replicate: output download answered HTTP %s", response.status_code)
                raise UpstreamError("The AI model's result could not be fetched.")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_OUTPUT_BYTES:
                raise UpstreamError("The AI model returned an unusably large result.")
            data = bytearray()
            for chunk in response.iter_bytes(64 * 1024):
                data += chunk
                if len(data) > MAX_OUTPUT_BYTES:
                    raise UpstreamError("The AI model returned an unusably large result.")
        return data  # the bytearray itself: a bytes() copy would hold the output twice
