"""Stripe deliveries one at a time per customer, each event acted on once.

Stripe sends the same event more than once and different events for one customer at once. Each
delivery recomputes the customer's Pro state from Stripe, so two running side by side could write
in the wrong order (one that read Stripe before a refund writing after one that read it after) or
both make the same write. So a delivery takes the customer's lock in the counter store first (a key
set only if absent, removed only by its holder, expiring by itself should the function die), and
inside it skips an event a delivery already acted on. Keys name the customer and the event by a
keyed hash; the lock lives LOCK_TTL_S at most, the record of an event SEEN_TTL_S (Stripe retries
a delivery for three days). When the store fails, the webhook answers 503 and Stripe retries.
"""

import contextlib
import secrets
import time

from lib import quota
from lib.errors import UpstreamUnavailable

LOCK_TTL_S = 60  # longer than a delivery's Stripe calls take (10 s timeout each, a handful of calls)
WAIT_S = 20  # how long a delivery waits for the customer's lock before it asks Stripe to retry
SEEN_TTL_S = 3 * 86400 + 3600  # Stripe retries an undelivered event for up to three days
POLL_S = 0.05


def _lock_key(customer_id):
    return "imgmend:lock:customer:" + quota.keyed_hash("webhook-customer", customer_id)


def _seen_key(event_id):
    return "imgmend:stripe-event:" + quota.keyed_hash("webhook-event", event_id)


@contextlib.contextmanager
def one_at_a_time(customer_id, event_id):
    """Hold the customer's lock; yields True when this event has not been acted on yet.

    Leaving the block without an exception records the event as acted on.
    """
    lock, holder = _lock_key(customer_id), secrets.randbits(62) + 1
    waited_until = time.monotonic() + WAIT_S
    while not quota.shared(lambda store: store.add(lock, holder, LOCK_TTL_S), "webhook lock"):
        if time.monotonic() >= waited_until:
            raise UpstreamUnavailable("Another delivery for this customer is still being handled.")
        time.sleep(POLL_S)
    try:
        seen = quota.shared(lambda store: store.get(_seen_key(event_id)), "webhook event check")
        yield not seen
        if not seen:
            quota.shared(lambda store: store.put(_seen_key(event_id), 1, SEEN_TTL_S), "webhook event record")
    finally:
        try:
            quota.shared(lambda store: store.remove_if(lock, holder), "webhook unlock")
        except UpstreamUnavailable:
            pass  # it expires by itself after LOCK_TTL_S
