"""POST /api/remove_bg — Cut the subject out of a photo (transparent or on a colour)."""

from lib import http, pipeline


@http.endpoint("POST")
def app(request):
    """Cut the subject out of a photo (transparent or on a colour)."""
    return pipeline.run_tool("remove_bg", request)
