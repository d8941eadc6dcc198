"""POST /api/verify_pro — turn a Checkout session id or a Pro key into a short-lived Pro token."""

from lib import http, payments, quota, tokens


@http.endpoint("POST")
def app(request):
    """Verify Pro with Stripe and answer with a signed token for this visit."""
    quota.check_verify_rate(quota.client_id(http.client_network(request)))
    body = http.read_json(request)
    verified = payments.verify(body.get("session_id"), body.get("pro_key"))
    token, expires = tokens.issue_token(verified.customer, not_after=verified.pro_until, source=verified.source,
                                        checked_at=verified.checked_at)
    return http.json_response(
        {"pro": True, "token": token, "pro_key": verified.customer,
         "expires_at": expires.isoformat().replace("+00:00", "Z")}
    )
