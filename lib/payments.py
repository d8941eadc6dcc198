"""Stripe: Checkout, Pro status from Stripe's current state, the billing portal, webhook events.

Only the Pro endpoints import this module (and so `stripe`); the image endpoints check a signed
token instead and never pay stripe's import cost.

Where Pro state lives:
- subscriptions: read live from Stripe (active or trialing grants Pro until the period ends);
- one-time purchases: recomputed from the customer's completed Checkout Sessions and their charges
  (paid, not refunded, not disputed) and recorded as customer metadata `imgmend_pro=lifetime`, which
  `verify_pro` reads. The webhook and a session-id verification both recompute from scratch, so
  repeated or reordered deliveries always leave the same result.

When a webhook finds that a customer is no longer Pro, their tokens are revoked (lib.pro).

The billing portal shows the customer's email, address, invoices and card, and can cancel: a Pro
key (which a buyer may paste anywhere) never opens it. Only a token verified from a paid Checkout
Session, in the buyer's own tab, within PORTAL_WINDOW_S, gets a portal session; every other Pro
token is sent to the portal's no-code login link, where Stripe checks the email with a one-time code.
"""

import contextlib
import datetime as dt
import logging
import re
import time
from typing import NamedTuple

from lib import config, deliveries, pro
from lib.errors import (
    ImgmendError,
    InvalidRequest,
    NotConfigured,
    NotPro,
    SignatureInvalid,
    UpstreamUnavailable,
    WebhookNotConfigured,
)

log = logging.getLogger("imgmend.payments")
# stripe logs whole request and response bodies at DEBUG (emails, card digits): never let it.
logging.getLogger("stripe").setLevel(logging.WARNING)
# urllib3 (under stripe's requests client) logs each URL at DEBUG, and Stripe URLs carry the
# customer id, which is the Pro key.
logging.getLogger("urllib3").setLevel(logging.INFO)

PRO_METADATA_KEY = "imgmend_pro"
SESSION_ID = re.compile(r"cs_(test|live)_[A-Za-z0-9]{8,200}")
CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9]{8,64}")
HANDLED_EVENTS = frozenset({
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
})
TIMEOUT_S = 10
PORTAL_WINDOW_S = 3600  # a Checkout-verified token opens the portal for this long after verification
CHECKOUT_FRESH_S = 24 * 3600  # an older Checkout Session (a leaked success URL) verifies as a key


class Verified(NamedTuple):
    """A Pro verification: who, until when (None: no end of its own), how, and when Stripe said so."""

    customer: str
    pro_until: object  # datetime or None
    source: str  # "checkout" or "key" (lib.tokens.SOURCES)
    checked_at: int


def _client():
    """A Stripe client for this request: key read now, explicit timeout, base URL overridable."""
    import stripe

    key = config.env("STRIPE_SECRET_KEY")
    if not key:
        raise NotConfigured("Payments are not configured.")
    base = config.env("STRIPE_API_BASE")
    return stripe.StripeClient(
        key,
        base_addresses={"api": base} if base else None,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_S),
        max_network_retries=1,
    )


@contextlib.contextmanager
def stripe_errors():
    """Map Stripe failures to the contract; Stripe's own text never reaches the client."""
    import stripe

    try:
        yield
    except ImgmendError:
        raise
    except stripe.InvalidRequestError as error:
        if getattr(error, "http_status", None) == 404:
            raise NotPro() from None
        log.warning("stripe rejected a request: %s", getattr(error, "code", None))
        raise UpstreamUnavailable("The payment service could not answer. Please try again.") from None
    except stripe.StripeError as error:
        log.warning("stripe unavailable: %s (%s)", type(error).__name__, getattr(error, "http_status", None))
        raise UpstreamUnavailable("The payment service could not answer. Please try again.") from None


def _field(obj, name):
    """A field of a Stripe object, or None when absent (StripeObject is not a dict)."""
    return obj[name] if obj is not None and name in obj else None


def _metadata(obj):
    """An object's metadata as a plain dict."""
    meta = _field(obj, "metadata")
    return meta.to_dict() if meta is not None else {}


def create_checkout(lang):
    """A Checkout Session for STRIPE_PRICE_ID; returns its URL."""
    price_id = config.env("STRIPE_PRICE_ID")
    client = _client()
    if not price_id:
        raise NotConfigured("Payments are not configured.")
    with stripe_errors():
        price = client.v1.prices.retrieve(price_id)
        recurring = bool(_field(price, "recurring"))
        params = {
            "mode": "subscription" if recurring else "payment",
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": config.public_base_url() + "/?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": config.public_base_url() + "/pro",
            "locale": "zh" if lang == "zh" else "en",
        }
        if not recurring:
            params["customer_creation"] = "always"  # otherwise a one-time buyer has no customer id
        session = client.v1.checkout.sessions.create(params)
    return session.url


def _subscription_end(client, customer_id):
    """The end of the current period of an active or trialing subscription, or None."""
    subs = client.v1.subscriptions.list({"customer": customer_id, "status": "all", "limit": 20})
    ends = []
    for sub in subs.data:
        if sub.status in ("active", "trialing"):
            periods = [_field(item, "current_period_end") for item in sub["items"].data]
            periods = [p for p in periods if p]
            ends.append(max(periods) if periods else None)
    if not ends:
        return None
    if None in ends:
        return dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromtimestamp(max(ends), dt.timezone.utc)


def _one_time_paid(client, customer_id):
    """Whether any completed one-time Checkout of this customer is paid and not refunded/disputed."""
    sessions = client.v1.checkout.sessions.list({"customer": customer_id, "status": "complete", "limit": 100})
    for session in sessions.data:
        if session.mode != "payment" or session.payment_status != "paid" or not session.payment_intent:
            continue
        intent_id = session.payment_intent if isinstance(session.payment_intent, str) else session.payment_intent.id
        intent = client.v1.payment_intents.retrieve(intent_id, {"expand": ["latest_charge"]})
        charge = _field(intent, "latest_charge")
        if charge and not isinstance(charge, str) and _field(charge, "paid"):
            if not _field(charge, "refunded") and not _field(charge, "disputed"):
                return True
    return False


def sync_customer(client, customer_id):
    """Recompute a customer's one-time Pro pass from Stripe and record it in the customer metadata."""
    customer = client.v1.customers.retrieve(customer_id)
    if _field(customer, "deleted"):
        return False
    active = _one_time_paid(client, customer_id)
    wanted = "lifetime" if active else ""
    current = _metadata(customer).get(PRO_METADATA_KEY, "")
    if current != wanted:  # write only on change: repeated deliveries are no-ops
        client.v1.customers.update(customer_id, {"metadata": {PRO_METADATA_KEY: wanted}})
    return active


def _pro_until(client, customer_id, one_time=None):
    """When this customer's Pro ends (a datetime), or NotPro."""
    end = _subscription_end(client, customer_id)
    if end is not None:
        return end
    if one_time is None:
        customer = client.v1.customers.retrieve(customer_id)
        one_time = not _field(customer, "deleted") and _metadata(customer).get(PRO_METADATA_KEY) == "lifetime"
    if one_time:
        return None  # a paid pass has no end of its own; the token's expiry bounds the visit
    raise NotPro()


def verify(session_id=None, pro_key=None):
    """Check a Checkout session id or a Pro key (customer id); returns a Verified."""
    if session_id is not None and not (isinstance(session_id, str) and SESSION_ID.fullmatch(session_id)):
        raise InvalidRequest("That is not a Checkout session id.")
    if pro_key is not None and not (isinstance(pro_key, str) and CUSTOMER_ID.fullmatch(pro_key)):
        raise InvalidRequest("That is not a Pro key. It looks like cus_ followed by letters and digits.")
    if (session_id is None) == (pro_key is None):
        raise InvalidRequest("Send either session_id or pro_key.")
    client = _client()
    checked_at = int(time.time())  # before Stripe is asked: a revocation from now on refuses the token
    with stripe_errors():
        if pro_key is not None:
            return Verified(pro_key, _pro_until(client, pro_key), "key", checked_at)
        session = client.v1.checkout.sessions.retrieve(session_id)
        paid = session.status == "complete" and session.payment_status in ("paid", "no_payment_required")
        customer_id = _field(session, "customer")
        if not isinstance(customer_id, str):
            customer_id = customer_id.id if customer_id else None
        if not paid or not customer_id:
            raise NotPro("That checkout is not complete and paid.")
        one_time = sync_customer(client, customer_id) if session.mode == "payment" else False
        fresh = isinstance(_field(session, "created"), int) and checked_at - session.created <= CHECKOUT_FRESH_S
        source = "checkout" if fresh else "key"
        return Verified(customer_id, _pro_until(client, customer_id, one_time=one_time or None), source, checked_at)


def manage_url(claims):
    """Where "Manage subscription" goes for these token claims: {"url", "kind"}.

    `session`: a billing-portal session for a token verified from a Checkout Session less than
    PORTAL_WINDOW_S ago; `login`: STRIPE_PORTAL_LOGIN_URL for every other token (no Stripe call).
    """
    if claims.source == "checkout" and time.time() - claims.checked_at <= PORTAL_WINDOW_S:
        client = _client()
        with stripe_errors():
            session = client.v1.billing_portal.sessions.create(
                {"customer": claims.customer, "return_url": config.public_base_url() + "/pro"}
            )
        return {"url": session.url, "kind": "session"}
    login = config.portal_login_url()
    if not login:
        raise NotConfigured("The customer portal login link is not configured.")
    return {"url": login, "kind": "login"}


def _customer_of(client, obj, event_type):
    """The customer id an event's object belongs to."""
    customer = _field(obj, "customer")
    if event_type == "charge.dispute.created" and not customer:
        charge = _field(obj, "charge")
        charge = client.v1.charges.retrieve(charge if isinstance(charge, str) else charge["id"])
        customer = _field(charge, "customer")
    if customer and not isinstance(customer, str):
        customer = _field(customer, "id")
    return customer


def handle_webhook(payload, signature):
    """Verify a Stripe delivery and bring the Pro state of its customer up to date."""
    import stripe

    secret = config.env("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise WebhookNotConfigured("The webhook secret is not configured.")
    try:
        event = stripe.Webhook.construct_event(payload, signature or "", secret)
    except (ValueError, stripe.SignatureVerificationError):
        raise SignatureInvalid() from None
    log.info("stripe event %s %s", event.id, event.type)
    if event.type not in HANDLED_EVENTS:
        return False
    client = _client()
    try:
        with stripe_errors():
            customer_id = _customer_of(client, event.data.object, event.type)
    except NotPro:
        return True  # the object is gone: nothing to bring up to date
    if not customer_id:
        return True
    with deliveries.one_at_a_time(customer_id, event.id) as fresh:
        if not fresh:
            log.info("stripe event %s already handled", event.id)
            return True
        try:
            with stripe_errors():
                one_time = sync_customer(client, customer_id)
                still_pro = one_time or _subscription_end(client, customer_id) is not None
        except NotPro:  # the customer is gone: nothing to record, and a retry would not change that
            still_pro = False
        if not still_pro:
            pro.revoke(customer_id)  # 503 if it cannot be written: Stripe delivers the event again
            log.info("stripe event %s: pro ended, tokens revoked", event.id)
    return True
