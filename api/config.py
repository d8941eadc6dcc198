"""GET /api/config — the public settings the browser needs (limits, free quota left, engine, Pro)."""

from lib import http, pipeline


@http.endpoint("GET")
def app(request):
    """Answer with the public configuration as JSON."""
    return http.json_response(pipeline.public_config(request))
