"""Free daily quota and burst rate limit per client, in Redis when REDIS_URL is set, else in memory.

A client is a keyed hash of its IP (never the IP itself). The quota counts successful images only:
a run reserves one image up front (an atomic increment, so parallel requests cannot double-spend)
and gives it back if the run fails. When the counter store is unreachable we fail open — a free
image too many is better than a site that is down — and log it; see docs/api.md.
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
from lib.errors import NotConfigured, QuotaExceeded, RateLimited

log = logging.getLogger("imgmend.quota")

VERIFY_ATTEMPTS, VERIFY_WINDOW_MIN = 20, 10  # fixed by the contract, not RATE_LIMIT_PER_MINUTE
DAY_TTL_S = 24 * 3600  # counters outlive their UTC day by at most a day, then vanish
_process_secret = pysecrets.token_bytes(32)  # dev only: quota keys valid for this process


_state = {}
_state_lock = threading.Lock()


def _stores():
    """(counters, rate limiter) for the configured backend, built once per process and URL."""
    url = config.env("REDIS_URL")
    with _state_lock:
        if _state.get("url") != url or "counters" not in _state:
            from limits import storage, strategies

            if url:
                import redis

                pool = redis.ConnectionPool.from_url(url, socket_timeout=2, socket_connect_timeout=2)
                counters = RedisCounters(redis.Redis(connection_pool=pool))
                limit_store = storage.RedisStorage(url, connection_pool=pool, key_prefix="imgmend:rate")
            else:
                counters = MemoryCounters()
                limit_store = storage.MemoryStorage()
            _state.update(url=url, counters=counters, limiter=strategies.FixedWindowRateLimiter(limit_store))
        return _state["counters"], _state["limiter"]


def counters():
    """The shared counter store (Redis or memory), also used by lib.analytics."""
    return _stores()[0]


def reset():
    """Forget the stores (tests switch backends between cases)."""
    with _state_lock:
        _state.clear()


def client_id(ip):
    """A keyed hash of the client IP: stable for a day's counting, useless for identifying anyone."""
    keys = config.secrets()
    if keys:
        key = keys[0].encode()
    elif config.env("REDIS_URL"):
        # Shared counters need one key across instances; a per-process key would reset the quota.
        raise NotConfigured("IMGMEND_SECRET must be set when REDIS_URL is set.")
    else:
        key = _process_secret
    return hmac.new(key, b"imgmend-quota-client:" + ip.encode(), hashlib.sha256).hexdigest()[:32]


def _today():
    return dt.datetime.now(dt.timezone.utc).date()


def _quota_key(client):
    return f"imgmend:quota:{_today().isoformat()}:{client}"


def resets_at():
    """The next UTC midnight, ISO 8601."""
    tomorrow = _today() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(), tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _store_failed(what, error):
    log.warning("quota store unavailable during %s (%s): failing open", what, type(error).__name__)


def _hit(item, namespace, client):
    """Count one request against a fixed-window limit, or raise RateLimited with Retry-After."""
    _, limiter = _stores()
    try:
        if limiter.hit(item, namespace, client):
            return
        reset_time = limiter.get_window_stats(item, namespace, client).reset_time
    except Exception as error:  # redis down: see the module docstring
        _store_failed("rate check", error)
        return
    retry_after = max(1, math.ceil(reset_time - time.time()))
    raise RateLimited(headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def check_rate(client):
    """Count one image request against the per-minute burst limit."""
    from limits import RateLimitItemPerMinute

    _hit(RateLimitItemPerMinute(config.rate_limit_per_minute()), "images", client)


def check_verify_rate(client):
    """Count one Pro verification: 20 per client per 10 minutes, so guessing keys is pointless."""
    from limits import RateLimitItemPerMinute

    _hit(RateLimitItemPerMinute(VERIFY_ATTEMPTS, VERIFY_WINDOW_MIN), "verify", client)


def remaining(client):
    """Free images left today for this client (None when the store is unreachable)."""
    counters, _ = _stores()
    try:
        used = counters.get(_quota_key(client))
    except Exception as error:
        _store_failed("read", error)
        return None
    return max(0, config.free_daily_limit() - used)


@contextlib.contextmanager
def spend_one(client):
    """Reserve one free image for the run inside the block; give it back if the block raises.

    Yields how many free images remain after this one (None when the store is unreachable).
    """
    limit = config.free_daily_limit()
    counters, _ = _stores()
    key = _quota_key(client)  # fixed now, so a run that spans midnight refunds the right day
    try:
        used = counters.incr(key, DAY_TTL_S)
        if used > limit:
            counters.incr(key, DAY_TTL_S, -1)
    except Exception as error:
        _store_failed("reserve", error)
        yield None
        return
    if used > limit:
        raise QuotaExceeded(limit=limit, resets_at=resets_at())
    try:
        yield limit - used
    except BaseException:
        try:
            counters.incr(key, DAY_TTL_S, -1)
        except Exception as error:
            _store_failed("release", error)
        raise
