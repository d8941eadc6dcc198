"""Expiring counters, in process memory or in Redis, shared by the quota and the usage analytics.

Two shapes: plain counters (`incr`, `get`) for the quota, and hashes of counters (`hincr_many`,
`hgetall`) for the analytics, where one hash per day and dimension keeps a report to a few reads.
Every key gets its expiry on its first write and keeps it (Redis `EXPIRE ... NX`).
"""

import threading
import time


class MemoryCounters:
    """Counters with expiry in process memory (local/dev; one process)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._data = {}  # key -> (value, expires_at); value is an int or a dict of ints (a hash)

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
            value, expires = self._live(key, now, 0, ttl)
            value += amount
            self._data[key] = (value, expires)
            return value

    def get(self, key):
        """The current value (0 when absent or expired)."""
        with self._lock:
            value, _ = self._live(key, time.time(), 0)
            return value

    def hincr_many(self, updates, ttl):
        """Apply (key, field, amount) increments to hashes; each new hash expires after `ttl` s."""
        now = time.time()
        with self._lock:
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

    def hincr_many(self, updates, ttl):
        """Apply (key, field, amount) increments in one round trip; new hashes expire after `ttl` s."""
        pipe = self.client.pipeline(transaction=False)  # independent counters: no MULTI needed
        keys = []
        for key, field, amount in updates:
            pipe.hincrby(key, field, amount)
            if key not in keys:
                keys.append(key)
        for key in keys:
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
