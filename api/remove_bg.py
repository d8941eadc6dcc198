"""POST /api/remove_bg — Cut the subject out of a photo (transparent or on a colour)."""

from lib import http, tools


@http.endpoint("POST")
def app(request):
    """Cut the subject out of a photo (transparent or on a colour)."""
    return tools.run_tool("remove_bg", request)
