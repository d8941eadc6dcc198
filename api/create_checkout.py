"""POST /api/create_checkout — start a Stripe Checkout for the Pro plan."""

from lib import http, payments, quota
from lib.errors import InvalidRequest


@http.endpoint("POST")
def app(request):
    """Answer with the Checkout URL to redirect the browser to."""
    quota.check_checkout_rate(quota.client_id(http.client_network(request)))
    lang = http.read_json(request).get("lang", "en")
    if lang not in ("en", "zh"):
        raise InvalidRequest("lang must be 'en' or 'zh'.")
    return http.json_response({"url": payments.create_checkout(lang)})
