"""POST /api/create_checkout — start a Stripe Checkout for the Pro plan."""

from lib import http, payments
from lib.errors import InvalidRequest


@http.endpoint("POST")
def app(request):
    """Answer with the Checkout URL to redirect the browser to."""
    lang = http.read_json(request).get("lang", "en")
    if lang not in ("en", "zh"):
        raise InvalidRequest("lang must be 'en' or 'zh'.")
    return http.json_response({"url": payments.create_checkout(lang)})
