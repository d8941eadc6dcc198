"""One exception base for everything the API can answer with, mapped to HTTP in lib.http.

Every error class of the project is here; messages that name a limit are built from lib.config.
"""

from lib import config


class ImgmendError(Exception):
    """An error the client may see: HTTP status, a snake_case code and an English message."""

    status = 500
    code = "internal_error"
    message = "Something went wrong on our side. Please try again."

    def __init__(self, message=None, *, headers=None, **extra):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.headers = dict(headers or {})
        self.extra = extra

    def to_dict(self):
        """The JSON body of the error response."""
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


class InvalidRequest(ImgmendError):
    status, code = 400, "invalid_request"
    message = "The request is malformed."


class SignatureInvalid(InvalidRequest):
    message = "The Stripe signature is missing, invalid or too old."


class InvalidImage(ImgmendError):
    status, code = 400, "invalid_image"
    message = "The file could not be read as an image: it may be truncated, corrupt or empty."


class InvalidToken(ImgmendError):
    status, code = 401, "invalid_token"
    message = "The Pro token is invalid or has expired. Verify your Pro key again."


class InvalidAdminToken(InvalidToken):
    message = "The admin token is missing or wrong."


class TokenRevoked(InvalidToken):
    """The customer's Pro plan ended (refund, dispute, cancellation) after this token was issued."""

    message = "Your Pro plan has ended (refunded, disputed or cancelled). This tab is back on the free plan."

    def __init__(self, message=None, **kwargs):
        kwargs.setdefault("reason", "revoked")  # the front end says why it fell back to free
        super().__init__(message, **kwargs)


class QuotaExceeded(ImgmendError):
    status, code = 402, "quota_exceeded"
    message = "You have used today's free images. Come back tomorrow or go Pro for unlimited use."


class CrossSite(ImgmendError):
    status, code = 403, "cross_site"
    message = "Requests from other websites are refused. Open the site itself and try again."


class NotFound(ImgmendError):
    status, code = 404, "not_found"
    message = "There is nothing at this address."


class NotPro(ImgmendError):
    status, code = 404, "not_pro"
    message = "No active Pro plan was found for that purchase or key."


class MethodNotAllowed(ImgmendError):
    status, code = 405, "method_not_allowed"
    message = "This method is not allowed here."


class PayloadTooLarge(ImgmendError):
    status, code = 413, "payload_too_large"
    message = f"The file is larger than the {config.size_label(config.MAX_BYTES)} limit."


class TooManyPixels(ImgmendError):
    status, code = 413, "too_many_pixels"
    message = f"The image has more than {config.pixels_label(config.MAX_PIXELS)}."


class UnsupportedFormat(ImgmendError):
    status, code = 415, "unsupported_format"
    message = f"This file type is not supported. Use a {config.formats_label()} image."


class NoWatermarkFound(ImgmendError):
    status, code = 422, "no_watermark_found"
    message = "We found no watermark; paint over it with the brush."


class RateLimited(ImgmendError):
    status, code = 429, "rate_limited"
    message = "Too many requests. Please wait a moment and try again."


class UpstreamError(ImgmendError):
    status, code = 502, "upstream_error"
    message = "The AI model could not process this image."


class UpstreamUnavailable(ImgmendError):
    status, code = 503, "upstream_unavailable"
    message = "The AI service is busy or unavailable. Please try again in a minute."


class Busy(ImgmendError):
    """The local engine's queue is full: come back after `retry_after` seconds."""

    status, code = 503, "busy"
    message = "The server is busy with other photos. Please try again in a moment."

    def __init__(self, retry_after):
        super().__init__(headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


class NotConfigured(ImgmendError):
    status, code = 503, "not_configured"
    message = "This feature is not configured on the server."


class WebhookNotConfigured(NotConfigured):
    """The webhook secret is unset: answer 500 so Stripe keeps retrying until it is set."""

    status = 500


class UpstreamTimeout(ImgmendError):
    status, code = 504, "upstream_timeout"
    message = "The AI model took too long. Please try again."


class Unhealthy(ImgmendError):
    status, code = 503, "unhealthy"
    message = "A required dependency is down."
