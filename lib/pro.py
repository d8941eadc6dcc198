"""Pro on a request: a signed token whose customer's Pro has not ended since Stripe confirmed it.

A token is checked by signature (lib.tokens) and by one lookup in the counter store: when a Stripe
webhook finds that a customer's Pro has ended (refund, dispute, subscription cancelled or unpaid),
`revoke` records the time, and every token whose Stripe check is not later than that is refused
with 401 `invalid_token` (`reason: revoked`) on its next use. The entry is named by a keyed hash of
the customer id (never the id) and expires after REVOKED_TTL_S, when every token it could refuse
has expired anyway.
"""

import time

from lib import http, quota, tokens
from lib.errors import TokenRevoked, UpstreamUnavailable

REVOKED_TTL_S = tokens.MAX_AGE_S + 3600  # outlives every token issued before the revocation
PREFIX = "imgmend:revoked"


def _keys(customer_id):
    """The entry's key under each IMGMEND_SECRET (so a rotation neither loses nor misses one)."""
    return [f"{PREFIX}:{h}" for h in quota.keyed_hashes("revoked-customer", customer_id)]


def revoke(customer_id, at=None):
    """Refuse every token of this customer that Stripe confirmed at or before `at` (default now).

    The write goes to the shared store only: if it fails, UpstreamUnavailable (503), so that
    Stripe delivers the webhook again rather than the refund being forgotten.
    """
    at = int(time.time() if at is None else at)

    def write(store):
        for key in _keys(customer_id):
            store.put(key, at, REVOKED_TTL_S)

    quota.shared(write, "revocation")


def revoked_at(customer_id):
    """When this customer's tokens were last revoked (Unix time), or 0.

    While the shared store fails, 0: tokens keep working on their signature (the per-customer
    burst limit still holds in memory), and the warning says the store is down.
    """
    try:
        return max(quota.shared(lambda store: store.get_many(_keys(customer_id)), "revocation check"))
    except UpstreamUnavailable:
        return 0


def claims(request):
    """The Claims of the request's bearer token, or None without one.

    InvalidToken (401) for a forged, tampered or expired token; TokenRevoked (401, reason
    `revoked`) when the customer's Pro ended after Stripe confirmed it for this token.
    """
    token = http.bearer_token(request)
    if token is None:
        return None
    found = tokens.read_token(token)
    if found.checked_at <= revoked_at(found.customer):
        raise TokenRevoked()
    return found
