"""POST /api/remove_watermark — Remove a watermark, from the user's mask or a detected one."""

from lib import http, pipeline


@http.endpoint("POST")
def app(request):
    """Remove a watermark, from the user's mask or a detected one."""
    return pipeline.run_tool("remove_watermark", request)
