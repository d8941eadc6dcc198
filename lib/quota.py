"""Free daily quota and rate limits per client (and per Pro customer), in the shared counter store.

The store is Redis when REDIS_URL is set, else process memory. A client is a keyed hash of its
network (lib.http.client_network: an IPv4 address or an IPv6 /64), never the address itself. The
quota counts successful images only: a run reserves one image up front (an atomic increment, so
parallel requests cannot double-spend) and gives it back if the run fails.

Never unlimited: when Redis fails (down, unreachable, or refusing commands because a plan's
monthly allowance is used up), every count moves to this instance's memory under the same keys and
limits, so the quota and the limits keep holding per function instance instead of switching off.
Redis is tried again RETRY_S after a failure; a warning is logged at most once a minute per
instance, and /api/health says `"counters": "memory-fallback"`. See docs/operations.md.
"""

import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import math
import secrets as pysecrets
import threading
import time

from lib import config
from lib.counters import MemoryCounters, RedisCounters
from lib.errors import NotConfigured, QuotaExceeded, RateLimited, UpstreamUnavailable

log = logging.getLogger("imgmend.quota")

# Fixed by the contract (docs/api.md), not by RATE_LIMIT_PER_MINUTE: (requests, minutes) per client.
VERIFY_LIMIT = (20, 10)  # guessing Pro keys is pointless
CHECKOUT_LIMIT = (10, 10)  # each one is a Checkout Session created at Stripe
PORTAL_LIMIT = (10, 10)  # each one can be a portal session created at Stripe
VIEWS_PER_MINUTE = 60  # counted page views per client; more are answered 204 and not counted
DAY_TTL_S = 24 * 3600  # counters outlive their UTC day by at most a day, then vanish
RETRY_S = 5.0  # after a Redis failure, count in memory this long before asking Redis again
WARN_EVERY_S = 60.0  # at most one "counter store unavailable" warning a minute per instance
_process_secret = pysecrets.token_bytes(32)  # dev only: quota keys valid for this process


class _Stores:
    """This instance's counters and limiter: the shared ones, and memory ones for a Redis outage."""

    def __init__(self, url):
        from limits import storage, strategies

        self.url = url
        self.local_counters = MemoryCounters()
        self.local_limiter = strategies.FixedWindowRateLimiter(storage.MemoryStorage())
        if url:
            import redis

            pool = redis.ConnectionPool.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            self.counters = RedisCounters(redis.Redis(connection_pool=pool))
            limit_store = storage.RedisStorage(url, connection_pool=pool, key_prefix="imgmend:rate")
            self.limiter = strategies.FixedWindowRateLimiter(limit_store)
        else:
            self.counters, self.limiter = self.local_counters, self.local_limiter
        self.failed_at = None  # time.monotonic() of the shared store's last failure
        self.warned_at = None
        self.leases = {}  # client -> _Lease: page views this instance may count this minute
        self.lock = threading.Lock()


_state = {}
_state_lock = threading.Lock()


def _stores():
    """The stores for the configured backend, built once per process and URL."""
    url = config.env("REDIS_URL")
    with _state_lock:
        stores = _state.get("stores")
        if stores is None or stores.url != url:
            stores = _state["stores"] = _Stores(url)
        return stores


def counters():
    """The shared counter store (Redis or memory), also read by lib.analytics and lib.health."""
    return _stores().counters


def reset():
    """Forget the stores (tests switch backends between cases)."""
    with _state_lock:
        _state.clear()


def _shared_ok(stores):
    return stores.failed_at is None or time.monotonic() - stores.failed_at >= RETRY_S


def store_failed(what, error):
    """Note a failure of the shared store (it is skipped for RETRY_S) and warn at most once a minute."""
    stores = _stores()
    now = time.monotonic()
    stores.failed_at = now
    if stores.warned_at is None or now - stores.warned_at >= WARN_EVERY_S:
        stores.warned_at = now
        # The exception type only: a message could quote a URL with credentials.
        log.warning("counter store unavailable during %s (%s): quota and limits count in this instance's "
                    "memory, statistics are not counted", what, type(error).__name__)


def mode():
    """How this instance counts: `redis`, `memory` (no REDIS_URL) or `memory-fallback` (Redis failing)."""
    stores = _stores()
    if not stores.url:
        return "memory"
    return "redis" if _shared_ok(stores) else "memory-fallback"


def _run(kind, op, what):
    """op(store) on the shared counters or limiter (`kind`), or on this instance's memory ones while
    the shared store fails. Returns (result, the store that answered)."""
    stores = _stores()
    shared, local = getattr(stores, kind), getattr(stores, "local_" + kind)
    if shared is not local and _shared_ok(stores):
        try:
            return op(shared), shared
        except Exception as error:  # redis down or refusing: see the module docstring
            store_failed(what, error)
    return op(local), local


def shared(op, what):
    """op(shared counters) for what only the shared store can answer (analytics, revocations).

    UpstreamUnavailable when the store fails, or failed less than RETRY_S ago (then it is not
    asked at all: a failing Redis costs each request nothing).
    """
    stores = _stores()
    if not _shared_ok(stores):
        raise UpstreamUnavailable("The counter store is unreachable.")
    try:
        return op(stores.counters)
    except Exception as error:
        store_failed(what, error)
        raise UpstreamUnavailable("The counter store is unreachable.") from None


def keyed_hash(purpose, value):
    """HMAC-SHA256 of `value` under the first IMGMEND_SECRET, truncated: stable across instances,
    useless for identifying anyone. `purpose` keeps hashes of one kind from matching another."""
    return keyed_hashes(purpose, value)[0]


def keyed_hashes(purpose, value):
    """keyed_hash under every IMGMEND_SECRET, newest first (entries written before a rotation)."""
    keys = [k.encode() for k in config.secrets()]
    if not keys:
        if config.env("REDIS_URL"):
            # Shared counters need one key across instances; a per-process key would reset the quota.
            raise NotConfigured("IMGMEND_SECRET must be set when REDIS_URL is set.")
        keys = [_process_secret]
    message = f"imgmend-{purpose}:{value}".encode()
    return [hmac.new(key, message, hashlib.sha256).hexdigest()[:32] for key in keys]


def client_id(network):
    """A keyed hash of the client's network: stable for a day's counting, identifies no one."""
    return keyed_hash("quota-client", network)


def _today():
    return dt.datetime.now(dt.timezone.utc).date()


def _quota_key(client):
    return f"imgmend:quota:{_today().isoformat()}:{client}"


def resets_at():
    """The next UTC midnight, ISO 8601."""
    tomorrow = _today() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(), tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _hit(amount, minutes, namespace, key):
    """Count one request against `amount` per `minutes` for `key`, or raise RateLimited (Retry-After)."""
    from limits import RateLimitItemPerMinute

    item = RateLimitItemPerMinute(amount, minutes)

    def hit(limiter):
        if limiter.hit(item, namespace, key):
            return None
        return limiter.get_window_stats(item, namespace, key).reset_time

    reset_time, _ = _run("limiter", hit, f"{namespace} limit")
    if reset_time is None:
        return
    retry_after = max(1, math.ceil(reset_time - time.time()))
    raise RateLimited(headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def check_rate(client):
    """Count one image request against the per-minute burst limit."""
    _hit(config.rate_limit_per_minute(), 1, "images", client)


def check_pro_rate(customer_id):
    """Count one Pro image run against the customer's own per-minute limit, wherever it comes from:
    a Pro key posted online is a burst of PRO_RATE_LIMIT_PER_MINUTE runs, not unlimited ones."""
    _hit(config.pro_rate_limit_per_minute(), 1, "pro", keyed_hash("customer", customer_id))


def check_verify_rate(client):
    """Count one Pro verification: 20 per client per 10 minutes, so guessing keys is pointless."""
    _hit(*VERIFY_LIMIT, "verify", client)


def check_checkout_rate(client):
    """Count one Checkout start: 10 per client per 10 minutes."""
    _hit(*CHECKOUT_LIMIT, "checkout", client)


def check_portal_rate(client):
    """Count one "Manage subscription": 10 per client per 10 minutes."""
    _hit(*PORTAL_LIMIT, "portal", client)


def remaining(client):
    """Free images left today for this client (from memory while Redis fails)."""
    used, _ = _run("counters", lambda store: store.get(_quota_key(client)), "read")
    return max(0, config.free_daily_limit() - used)


@contextlib.contextmanager
def spend_one(client):
    """Reserve one free image for the run inside the block; give it back if the block raises.

    Yields how many free images remain after this one. The image is given back to the store that
    reserved it (a reservation made in Redis is not refunded into memory).
    """
    limit = config.free_daily_limit()
    key = _quota_key(client)  # fixed now, so a run that spans midnight refunds the right day

    def reserve(store):
        used = store.incr(key, DAY_TTL_S)
        if used > limit:
            store.incr(key, DAY_TTL_S, -1)
        return used

    used, store = _run("counters", reserve, "reserve")
    if used > limit:
        raise QuotaExceeded(limit=limit, resets_at=resets_at())
    try:
        yield limit - used
    except BaseException:
        try:
            store.incr(key, DAY_TTL_S, -1)
        except Exception as error:  # Redis died during the run: the image stays spent there
            store_failed("release", error)
        raise


class _Lease:
    """Page views one instance may count for one client in one minute, fetched from the store."""

    __slots__ = ("window", "left", "next_size", "used_up")

    def __init__(self, window):
        self.window, self.left, self.next_size, self.used_up = window, 0, 1, False


def admit_view(client):
    """Whether a page view of this client may be counted: at most VIEWS_PER_MINUTE a minute.

    The minute's count lives in the store, but an instance takes views from it in leases of 1, 2,
    4, … so that a normal visitor costs one store round trip a minute and a client posting far past
    the limit costs none once its minute is used up (this instance remembers that). Leased views an
    instance does not use are lost, never handed out twice. Returns (admitted, whether the store
    was asked).
    """
    stores = _stores()
    window = int(time.time() // 60)
    with stores.lock:
        lease = stores.leases.get(client)
        if lease is None or lease.window != window:
            if len(stores.leases) > 10_000:
                stores.leases = {c: v for c, v in stores.leases.items() if v.window == window}
            lease = stores.leases[client] = _Lease(window)
        if lease.left > 0:
            lease.left -= 1
            return True, False
        if lease.used_up:
            return False, False
        asked = min(lease.next_size, VIEWS_PER_MINUTE)
        lease.next_size = asked * 2
    key = f"imgmend:rate:views:{window}:{client}"
    total, _ = _run("counters", lambda store: store.incr(key, 120, asked), "view limit")
    granted = max(0, min(asked, VIEWS_PER_MINUTE - (total - asked)))
    with stores.lock:
        if granted == 0 or total >= VIEWS_PER_MINUTE:
            lease.used_up = True
        lease.left += max(0, granted - 1)
    return granted > 0, True
