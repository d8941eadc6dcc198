"""GET /api/health — 200 when every dependency the configured engine needs is up, else 503."""

from lib import health, http


@http.endpoint("GET")
def app(request):
    """Answer with the dependency checks as JSON booleans (redis null = not used)."""
    return http.json_response(health.check())
