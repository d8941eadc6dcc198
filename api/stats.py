"""GET /api/stats?days=N — aggregate usage report for the operator (Bearer IMGMEND_ADMIN_TOKEN)."""

from lib import admin, analytics, http
from lib.errors import InvalidRequest


@http.endpoint("GET")
def app(request):
    """Answer with views, browsers, devices, countries, tool runs and latency per day (default 7 days)."""
    admin.require_admin(request)
    try:
        days = int(request.args.get("days", "7"))
    except ValueError:
        raise InvalidRequest("days must be a whole number from 1 to 90.") from None
    if not 1 <= days <= analytics.MAX_DAYS:
        raise InvalidRequest("days must be a whole number from 1 to 90.")
    return http.json_response(analytics.report(days))
