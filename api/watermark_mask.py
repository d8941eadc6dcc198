"""POST /api/watermark_mask — suggest a watermark mask the user can edit (not counted as an image)."""

from lib import http, pipeline


@http.endpoint("POST")
def app(request):
    """Answer with a PNG mask, white where a watermark was detected."""
    return pipeline.suggest_mask(request)
