"""POST /api/remove_watermark — Remove a watermark, from the user's mask or a detected one."""

from lib import http, tools


@http.endpoint("POST")
def app(request):
    """Remove a watermark, from the user's mask or a detected one."""
    return tools.run_tool("remove_watermark", request)
