"""The API's request rate limits: DRF's rates, keys and answers, in one Redis round trip.

DRF's SimpleRateThrottle keeps each caller's request times as one pickled list in the cache and
reads and writes the whole list on every request: two round trips, each carrying up to the
rate's number of timestamps (1,000 at the default 1000/min; 12,000 when a load test offers
200 requests/s under a raised limit), unpickled and pickled again per request. Here the same
sliding window is a Redis sorted set of request times that a Lua script trims, counts and adds
to atomically (which DRF's get-then-set was not: concurrent requests could each read the same
list and overwrite each other's entry). The rule is DRF's: a request is refused when the caller
already made `num_requests` requests within the last `duration` seconds; a refused request does
not count; Retry-After is the time until the oldest of them leaves the window.

If Redis cannot be reached the request is let through (with a warning), as the read cache
falls back to the database: the rate limit protects the service, it must not take it down.
"""

from __future__ import annotations

import logging
import secrets
import time

from django.core.cache import cache
from rest_framework import throttling

logger = logging.getLogger(__name__)

_SCRIPT = """
local now = tonumber(ARGV[1])
local duration = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - duration)
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  return {0, redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(duration))
return {1, '0'}
"""
_script = None


def _run(keys: list[str], args: list) -> list:
    """The script on the cache's Redis (EVALSHA; loaded again if Redis lost it)."""
    global _script
    client = cache._cache.get_client(write=True)
    if _script is None:
        _script = client.register_script(_SCRIPT)
    return _script(keys=keys, args=args, client=client)


class _SortedSetWindow:
    """allow_request and wait for a SimpleRateThrottle subclass, over a Redis sorted set."""

    timer = time.time

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        self.oldest = None
        member = f"{self.now:.6f}:{secrets.token_hex(4)}"
        args = [repr(self.now), self.duration, self.num_requests, member]
        try:
            allowed, oldest = _run([cache.make_key(f"{self.key}:w")], args)
        except Exception as exc:
            logger.warning("API rate limit not checked (Redis unavailable): %s", exc)
            return True
        if allowed:
            return True
        self.oldest = float(oldest)
        return False

    def wait(self):
        if self.oldest is None:
            return self.duration
        return max(0.0, self.duration - (self.now - self.oldest))


class UserRateThrottle(_SortedSetWindow, throttling.UserRateThrottle):
    """Per signed-in user (or per address when anonymous), the "user" rate."""


class AnonRateThrottle(_SortedSetWindow, throttling.AnonRateThrottle):
    """Per address for anonymous callers, the "anon" rate."""
