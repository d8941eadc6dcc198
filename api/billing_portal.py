"""POST /api/billing_portal — open Stripe's customer portal for the token's Pro customer."""

from lib import http, payments, tokens
from lib.errors import InvalidToken


@http.endpoint("POST")
def app(request):
    """Answer with the portal URL (manage or cancel Pro)."""
    token = http.bearer_token(request)
    if token is None:
        raise InvalidToken("Verify your Pro key first.")
    return http.json_response({"url": payments.portal_url(tokens.verify_token(token))})
