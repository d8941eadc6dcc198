"""Expiring counters, in process memory or in Redis, shared by the quota and the usage analytics.

Two shapes: plain counters (`incr`, `get`, `put`, `get_many`) for the quota, the limits and the
Pro revocations, and hashes of counters (`hincr_many`, `hgetall`) for the analytics, where one
hash per day and dimension keeps a report to a few reads. Every key gets its expiry on its first
write and keeps it (Redis `EXPIRE ... NX`); `put` sets value and expiry together.
"""

import threading
import time


class MemoryCounters:
    """Counters with expiry in process memory (local/dev; one process; a Redis outage's fallback)."""

    SWEEP_ABOVE = 10_000  # keys; past this, expired ones are dropped at most once a minute

    def __init__(self):
        self._lock = threading.Lock()
        self._data = {}  # key -> (value, expires_at); value is an int or a dict of ints (a hash)
        self._swept = 0.0

    def _sweep(self, now):
        """Drop expired keys (caller holds the lock): many clients must not grow memory for ever."""
        if len(self._data) > self.SWEEP_ABOVE and now - self._swept >= 60:
            self._swept = now
            self._data = {k: v for k, v in self._data.items() if v[1] > now}

    def _live(self, key, now, empty, ttl=0):
        """The key's (value, expires), a fresh one when absent or expired."""
        value, expires = self._data.get(key, (empty, now + ttl))
        if expires <= now:
            value, expires = empty, now + ttl
        return value, expires

    def incr(self, key, ttl, amount=1):
        """Add `amount` and return the new value; the expiry is set by the first increment."""
        now = time.time()
        with self._lock:
            self._sweep(now)
            value, expires = self._live(key, now, 0, ttl)
            value += amount
            self._data[key] = (value, expires)
            return value

    def put(self, key, value, ttl):
        """Set an integer value that expires after `ttl` seconds (a new expiry each time)."""
        now = time.time()
        with self._lock:
            self._sweep(now)
            self._data[key] = (int(value), now + ttl)

    def get_many(self, keys):
        """Several values (0 when absent or expired), in the order of `keys`."""
        return [self.get(key) for key in keys]

    def add(self, key, value, ttl):
        """Set `key` to `value` only if it is absent (or expired); True when it was set."""
        now = time.time()
        with self._lock:
            self._sweep(now)
            if key in self._data and self._data[key][1] > now:
                return False
            self._data[key] = (int(value), now + ttl)
            return True

    def remove_if(self, key, value):
        """Delete `key` if it still holds `value` (a lock released only by its holder)."""
        with self._lock:
            if key in self._data and self._data[key][0] == int(value):
                del self._data[key]

    def get(self, key):
        """The current value (0 when absent or expired)."""
        with self._lock:
            value, _ = self._live(key, time.time(), 0)
            return value

    def hincr_many(self, updates, ttl, expire_all=True):
        """Apply (key, field, amount) increments to hashes; each new hash expires after `ttl` s."""
        now = time.time()
        with self._lock:
            self._sweep(now)
            for key, field, amount in updates:
                value, expires = self._live(key, now, {}, ttl)
                value = dict(value)
                value[field] = value.get(field, 0) + amount
                self._data[key] = (value, expires)

    def hgetall(self, key):
        """A hash as {field: int} ({} when absent or expired)."""
        with self._lock:
            value, _ = self._live(key, time.time(), {})
            return dict(value)

    def hgetall_many(self, keys):
        """Several hashes, in the order of `keys`."""
        return [self.hgetall(key) for key in keys]

    def ttl(self, key):
        """Seconds until the key expires, or None."""
        with self._lock:
            _, expires = self._data.get(key, (0, 0))
            return max(0, int(expires - time.time())) if expires else None

    def keys(self):
        """Every live key (tests inspect what is stored)."""
        now = time.time()
        with self._lock:
            return [k for k, (_, expires) in self._data.items() if expires > now]

    def ping(self):
        """Memory is always reachable."""
        return True


class RedisCounters:
    """The same counters in Redis (shared by every function instance)."""

    def __init__(self, client):
        self.client = client

    def incr(self, key, ttl, amount=1):
        """Atomically add `amount` and set the expiry if the key is new."""
        pipe = self.client.pipeline(transaction=True)
        pipe.incrby(key, amount)
        pipe.expire(key, ttl, nx=True)
        return int(pipe.execute()[0])

    def get(self, key):
        """The current value (0 when absent)."""
        return int(self.client.get(key) or 0)

    def put(self, key, value, ttl):
        """Set an integer value that expires after `ttl` seconds (one command)."""
        self.client.set(key, int(value), ex=ttl)

    def get_many(self, keys):
        """Several values (0 when absent), in the order of `keys` (one command)."""
        return [int(v or 0) for v in self.client.mget(keys)]

    # Deleting only a value we set, atomically (the lock pattern of Redis's SET documentation).
    _REMOVE_IF = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def add(self, key, value, ttl):
        """SET NX EX: set `key` only if it is absent; True when it was set (one command)."""
        return bool(self.client.set(key, int(value), ex=ttl, nx=True))

    def remove_if(self, key, value):
        """Delete `key` if it still holds `value` (one command)."""
        self.client.eval(self._REMOVE_IF, 1, key, int(value))

    def hincr_many(self, updates, ttl, expire_all=True):
        """Apply (key, field, amount) increments; new hashes expire after `ttl` s.

        `expire_all`: one round trip with an `EXPIRE ... NX` for every key. Otherwise the
        increments alone, and a second round trip with `EXPIRE ... NX` only for the keys in which
        an increment created its field — a new key has only new fields, so none is ever left
        without an expiry, and a busy day's repeat writes cost one command per counter.
        """
        pipe = self.client.pipeline(transaction=False)  # independent counters: no MULTI needed
        keys = []
        for key, field, amount in updates:
            pipe.hincrby(key, field, amount)
            if key not in keys:
                keys.append(key)
        if expire_all:
            for key in keys:
                pipe.expire(key, ttl, nx=True)
            pipe.execute()
            return
        results = pipe.execute()
        fresh = []
        for (key, _, amount), value in zip(updates, results):
            if int(value) == amount and key not in fresh:
                fresh.append(key)
        if fresh:
            pipe = self.client.pipeline(transaction=False)
            for key in fresh:
                pipe.expire(key, ttl, nx=True)
            pipe.execute()

    def hgetall(self, key):
        """A hash as {field: int} ({} when absent)."""
        return {k.decode(): int(v) for k, v in self.client.hgetall(key).items()}

    def hgetall_many(self, keys):
        """Several hashes in one round trip, in the order of `keys`."""
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return [{k.decode(): int(v) for k, v in h.items()} for h in pipe.execute()]

    def ttl(self, key):
        """Seconds until the key expires, or None."""
        value = self.client.ttl(key)
        return value if value is not None and value >= 0 else None

    def keys(self):
        """Every key (tests inspect what is stored)."""
        return [k.decode() for k in self.client.scan_iter(count=1000)]

    def ping(self):
        """True when Redis answers."""
        return bool(self.client.ping())
