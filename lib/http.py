"""The HTTP boundary: WSGI apps from small views, request parsing in memory, errors to JSON."""

import contextvars
import io
import ipaddress
import json
import logging
import sys
import time

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from lib import config
from lib.errors import (
    CrossSite,
    ImgmendError,
    InvalidRequest,
    MethodNotAllowed,
    PayloadTooLarge,
)

log = logging.getLogger("imgmend")
log.setLevel(logging.INFO)  # the request lines are INFO; Python's default (root at WARNING) drops them
# Extra fields for this request's log line (e.g. the engine), set by lib code through annotate().
_log_fields = contextvars.ContextVar("imgmend_log_fields", default=None)


class ApiRequest(Request):
    """A request whose body is capped while it is read and whose uploads never touch disk."""

    max_content_length = config.MAX_BODY_BYTES
    # Text fields are a few bytes ("#ffffff"), but werkzeug also applies this cap to its read buffer
    # (64 KiB chunks), so it must sit well above one chunk or real uploads are refused.
    max_form_memory_size = 1024 * 1024
    max_form_parts = 16

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        # Werkzeug spools uploads over 500 KB to a temporary file; ours stay in memory, always.
        return io.BytesIO()


def json_response(payload, status=200, headers=None):
    """A JSON response."""
    return Response(json.dumps(payload), status=status, headers=headers, mimetype="application/json")


def error_response(error):
    """The contract's JSON error body for an ImgmendError."""
    return json_response(error.to_dict(), status=error.status, headers=error.headers)


def annotate(**fields):
    """Add fields (e.g. engine="local") to the current request's log line; a no-op outside one."""
    current = _log_fields.get()
    if current is not None:
        current.update(fields)


def _ensure_log_output():
    """Give the request lines somewhere to go when nothing configured logging (as on Vercel).

    Vercel keeps what a function writes to stdout/stderr; with no handler anywhere Python would
    print only WARNING and above. Where the host or the tests attached handlers, they are used.
    """
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)


def log_request(endpoint_path, status, error_code, ms):
    """The one JSON log line per API request: no IP, UA, bytes, email or token, ever."""
    fields = {"endpoint": endpoint_path, "status": status, "error": error_code, "ms": round(ms)}
    fields.update(_log_fields.get() or {})
    log.info(json.dumps(fields, separators=(",", ":")))


# Sec-Fetch-Site values a browser sends for requests our own pages make (or the user typed).
OWN_SITE = frozenset({"same-origin", "same-site", "none"})
SAFE_METHODS = frozenset({"GET", "HEAD"})


def from_another_site(request):
    """Whether a browser on another site sent this request.

    Fetch Metadata first: browsers set `Sec-Fetch-Site` on every request to a secure origin and
    scripts cannot change it (a `Sec-` header), including no-cors `fetch`, form posts and beacons.
    Without it (older browsers, plain-HTTP hosts), `Origin` — which browsers add to every
    non-GET request — must be PUBLIC_BASE_URL's origin; `Origin: null` (sandboxed frames, data:
    URLs, `Referrer-Policy: no-referrer` pages) is another site. A request with neither header is
    not from a browser (curl, API clients): it carries no visitor's quota or Pro, so it passes.
    """
    site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if site == "cross-site":
        return True
    if site in OWN_SITE:
        return False
    origin = request.headers.get("Origin")  # an unknown Sec-Fetch-Site value is ignored, as the spec says
    if origin is None:
        return False
    return origin.strip().lower() == "null" or config.origin_of(origin) != config.public_origin()


def endpoint(*methods, any_site=False):
    """Turn `view(request) -> Response` into a WSGI app that maps every error at one place.

    Every non-GET request a browser sends from another site is refused with 403 `cross_site`
    before the view runs: before a byte of the body is read or any counter is touched. Only
    `any_site=True` (the Stripe webhook, which is signed) lets other sites through.
    """
    allowed = tuple(methods) + (("HEAD",) if "GET" in methods else ())

    def wrap(view):
        def app(environ, start_response):
            started = time.perf_counter()
            _ensure_log_output()  # before the view: its own lines (e.g. prediction ids) need it too
            request = ApiRequest(environ)
            token = _log_fields.set({})
            error_code = None
            try:
                try:
                    if request.method not in allowed:
                        raise MethodNotAllowed(headers={"Allow": ", ".join(methods)})
                    if not any_site and request.method not in SAFE_METHODS and from_another_site(request):
                        raise CrossSite()
                    response = view(request)
                except ImgmendError as error:
                    error_code, response = error.code, error_response(error)
                except RequestEntityTooLarge:
                    error_code, response = PayloadTooLarge.code, error_response(PayloadTooLarge())
                except ClientDisconnected:  # the body ended before its Content-Length said it would
                    error = InvalidRequest("The request body is shorter than its Content-Length.")
                    error_code, response = error.code, error_response(error)
                except Exception as error:  # never a stack trace or a secret to the client
                    # The exception type only: messages can quote request data.
                    log.error("unhandled %s in %s", type(error).__name__, request.path)
                    error_code, response = ImgmendError.code, error_response(ImgmendError())
                response.headers["Cache-Control"] = "no-store"
                # The route, not the raw path: a query string could carry a token or a session id.
                log_request(request.path, response.status_code, error_code, (time.perf_counter() - started) * 1000)
            finally:
                _log_fields.reset(token)
            return response(environ, start_response)

        app.__doc__ = view.__doc__
        app.__name__ = view.__name__
        return app

    return wrap


def network_of(value):
    """The network a client address counts as: an IPv4 address, or an IPv6 address's /64.

    One IPv6 subscriber holds at least a /64 (2^64 addresses that the OS rotates through), so
    counting per address would give each of them a fresh free quota. IPv4-mapped IPv6
    (`::ffff:192.0.2.1`) is the IPv4 address. None for anything that is not an address.
    """
    value = (value or "").split(",")[0].strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.version == 4:
        return str(address)
    return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))


def client_network(request):
    """The client's network (network_of) as the platform reports it; never the spoofable
    left-most X-Forwarded-For entry.

    `X-Vercel-Forwarded-For` first (Vercel overwrites it at its edge), then `X-Real-IP` (the dev
    server sets both from the socket peer), then the socket peer; malformed values are skipped.
    """
    for value in (request.headers.get("X-Vercel-Forwarded-For"), request.headers.get("X-Real-IP"), request.remote_addr):
        network = network_of(value)
        if network is not None:
            return network
    return "unknown"


def bearer_token(request):
    """The token of an `Authorization: Bearer` header, or None."""
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class ImageUpload:
    """The parts of an image request: the image bytes, an optional mask, and option fields."""

    def __init__(self, image, mask=None, fields=None):
        self.image = image
        self.mask = mask
        self.fields = fields or {}


def _read_part(storage, name):
    """A multipart file part's bytes, capped at the per-image limit."""
    data = storage.stream.read(config.MAX_BYTES + 1)
    if len(data) > config.MAX_BYTES:
        raise PayloadTooLarge(f"The {name} is larger than the {config.size_label(config.MAX_BYTES)} limit.")
    return data


def read_image_upload(request):
    """Parse multipart (`image`, `mask`, options) or a raw image body into an ImageUpload."""
    length = request.content_length
    if length is not None and length > config.MAX_BODY_BYTES:
        raise PayloadTooLarge()  # decided before a byte of the body is read
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        try:
            files, form = request.files, request.form
        except RequestEntityTooLarge:
            raise PayloadTooLarge() from None
        except ValueError:
            raise InvalidRequest("The multipart body is malformed.") from None
        if "image" not in files:
            raise InvalidRequest("Send the photo in a form field named 'image'.")
        image = _read_part(files["image"], "image")
        mask = _read_part(files["mask"], "mask") if "mask" in files else None
        fields = {k: form.get(k, "") for k in form.keys()}
        if mask is None and form.get("mask"):
            raise InvalidRequest("The mask must be sent as an image file.")
        return ImageUpload(image, mask or None, fields)
    if mimetype.startswith("image/") or mimetype == "application/octet-stream":
        image = request.get_data(cache=False)
        if len(image) > config.MAX_BYTES:
            raise PayloadTooLarge()
        return ImageUpload(image, None, {k: v for k, v in request.args.items()})
    raise InvalidRequest(
        "Send the photo as multipart/form-data with an 'image' part, or as a raw image body."
    )


def read_json(request):
    """The request's JSON object body, or invalid_request.

    The body must be labelled `application/json`: browsers only send that type cross-origin after
    a CORS preflight (which this API never grants), unlike the `text/plain` a form or no-cors
    fetch can send from any page.
    """
    if request.mimetype != "application/json":
        raise InvalidRequest("Send the body as JSON with Content-Type: application/json.")
    if request.content_length and request.content_length > 16 * 1024:
        raise PayloadTooLarge("The JSON body is too large.")
    try:
        payload = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The body must be JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return payload
