"""GET /api/stats?days=N — aggregate usage report for the operator (Bearer IMGMEND_ADMIN_TOKEN)."""

from lib import admin, analytics, http


@http.endpoint("GET")
def app(request):
    """Answer with views, browsers, devices, countries, tool runs and latency per day (default 7 days)."""
    admin.require_admin(request)
    return http.json_response(analytics.report(analytics.parse_days(request.args.get("days", "7"))))
