"""POST /api/denoise — Remove noise from a photo."""

from lib import http, tools


@http.endpoint("POST")
def app(request):
    """Remove noise from a photo."""
    return tools.run_tool("denoise", request)
