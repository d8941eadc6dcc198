"""POST /api/stripe_webhook — Stripe event deliveries (signature checked on the raw body)."""

from lib import http, payments


@http.endpoint("POST", any_site=True)  # Stripe signs it; it comes from no browser
def app(request):
    """Verify the delivery, update the customer's Pro state, acknowledge."""
    payload = request.get_data(cache=False)  # the raw bytes: the signature covers them exactly
    payments.handle_webhook(payload, request.headers.get("Stripe-Signature"))
    return http.json_response({"received": True})
