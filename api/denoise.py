"""POST /api/denoise — Remove noise from a photo."""

from lib import http, pipeline


@http.endpoint("POST")
def app(request):
    """Remove noise from a photo."""
    return pipeline.run_tool("denoise", request)
