"""POST /api/billing_portal — where "Manage subscription" goes for the token's Pro customer."""

from lib import http, payments, pro, quota
from lib.errors import InvalidToken


@http.endpoint("POST")
def app(request):
    """Answer with a portal session (a tab fresh from Checkout) or the portal's email login link."""
    quota.check_portal_rate(quota.client_id(http.client_network(request)))
    claims = pro.claims(request)
    if claims is None:
        raise InvalidToken("Verify your Pro key first.")
    return http.json_response(payments.manage_url(claims))
