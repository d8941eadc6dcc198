"""One exception base for everything the API can answer with, mapped to HTTP in lib.http."""


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


class InvalidImage(ImgmendError):
    status, code = 400, "invalid_image"
    message = "The file could not be read as an image: it may be truncated, corrupt or empty."


class InvalidToken(ImgmendError):
    status, code = 401, "invalid_token"
    message = "The Pro token is invalid or has expired. Verify your Pro key again."


class QuotaExceeded(ImgmendError):
    status, code = 402, "quota_exceeded"
    message = "You have used today's free images. Come back tomorrow or go Pro for unlimited use."


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
    message = "The file is larger than the 4 MB limit."


class TooManyPixels(ImgmendError):
    status, code = 413, "too_many_pixels"
    message = "The image has more than 40 megapixels."


class UnsupportedFormat(ImgmendError):
    status, code = 415, "unsupported_format"
    message = "This file type is not supported. Use a JPEG, PNG or WebP image."


class RateLimited(ImgmendError):
    status, code = 429, "rate_limited"
    message = "Too many requests. Please wait a moment and try again."


class UpstreamError(ImgmendError):
    status, code = 502, "upstream_error"
    message = "The AI model could not process this image."


class UpstreamUnavailable(ImgmendError):
    status, code = 503, "upstream_unavailable"
    message = "The AI service is busy or unavailable. Please try again in a minute."


class NotConfigured(ImgmendError):
    status, code = 503, "not_configured"
    message = "This feature is not configured on the server."


class UpstreamTimeout(ImgmendError):
    status, code = 504, "upstream_timeout"
    message = "The AI model took too long. Please try again."


class Unhealthy(ImgmendError):
    status, code = 503, "unhealthy"
    message = "A required dependency is down."
