"""A rate budget per API key shared by every process that uses the key (Redis sliding window).

Binance counts request weight per fixed one-minute window and refuses past its limit, so a
budget is a number of units per window, and the limiter admits a call only if the units spent
in the `window_seconds` before it, plus the call's, stay within the budget. A sliding window
that never holds more than the budget cannot put more than the budget into any fixed window
either. (A token bucket refilled at budget/window, as before, let 4,800 through at once and
1,200 more in the next 15 s: 6,000 in 15 s, 9,600 in a minute, which Binance refuses.)

The spent units live in Redis (a sorted set of (time, cost) entries and their running sum)
and are updated by one Lua script with Redis's own clock, so workers on several machines draw
from the same budget. A 429 or 418 from the exchange blocks the whole key for its Retry-After.
Budgets are set under the exchange's documented limit (80% by default).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

import redis
import redis.asyncio as redis_async

# KEYS[1] window (sorted set: member "<ms>:<seq>:<cost>", score ms), KEYS[2] block key;
# ARGV: capacity, window ms, cost. Returns 0 when the cost was taken, else the milliseconds to
# wait before trying again. The running sum sits in KEYS[1]..":sum", the member counter in
# KEYS[1]..":seq".
_SCRIPT = """
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local capacity = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
if cost > capacity then return redis.error_reply('cost above the whole budget') end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sum_key = KEYS[1] .. ':sum'
local total = tonumber(redis.call('GET', sum_key) or '0')
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
for _, member in ipairs(expired) do
  total = total - tonumber(string.match(member, ':([^:]+)$'))
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window) end
if total < 1e-9 then total = 0 end
if total + cost <= capacity then
  local seq = redis.call('INCR', KEYS[1] .. ':seq')
  redis.call('ZADD', KEYS[1], now, now .. ':' .. seq .. ':' .. ARGV[3])
  total = total + cost
  redis.call('SET', sum_key, tostring(total), 'PX', window + 1000)
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  redis.call('PEXPIRE', KEYS[1] .. ':seq', window + 1000)
  return 0
end
redis.call('SET', sum_key, tostring(total), 'PX', window + 1000)
-- wait until enough of the oldest entries have left the window
local need = total + cost - capacity
local freed = 0
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  freed = freed + tonumber(string.match(entries[i], ':([^:]+)$'))
  if freed >= need - 1e-9 then
    return math.max(1, tonumber(entries[i + 1]) + window - now + 1)
  end
end
return window
"""

# documented limits: (units per window, window seconds). Binance spot: 6000 weight per minute.
DOCUMENTED_LIMITS = {"binance": (6000, 60)}
HEADROOM = 0.8


@dataclass(frozen=True)
class Budget:
    """At most `capacity` units in any `window_seconds`."""

    capacity: float
    window_seconds: float

    @property
    def window_ms(self) -> int:
        return int(self.window_seconds * 1000)


def budget_for(ccxt_class: str, rate_limit_ms: float | None = None) -> Budget:
    """80% of the exchange's documented limit; else from ccxt's per-request rateLimit."""
    if ccxt_class in DOCUMENTED_LIMITS:
        units, window = DOCUMENTED_LIMITS[ccxt_class]
        return Budget(units * HEADROOM, window)
    per_minute = 60_000 / (rate_limit_ms or 1000)
    return Budget(per_minute * HEADROOM, 60)


def scope_for(exchange_id: str, api_key: str = "") -> str:
    """Redis name for a key's budget; the key itself never appears in Redis."""
    if not api_key:
        return f"{exchange_id}:public"
    return f"{exchange_id}:{hashlib.sha256(api_key.encode()).hexdigest()[:24]}"


class RateLimiter:
    """Sliding window in Redis; `acquire(cost)` waits until the shared budget allows the call."""

    def __init__(self, url: str, scope: str, budget: Budget, *, prefix: str = "ratelimit") -> None:
        self.url = url
        self.budget = budget
        self.bucket = f"{prefix}:{scope}"
        self.block = f"{prefix}:{scope}:blocked"
        self._async: redis_async.Redis | None = None
        self._sync: redis.Redis | None = None

    def _args(self, cost: float):
        return (2, self.bucket, self.block, self.budget.capacity, self.budget.window_ms, cost)

    async def acquire(self, cost: float = 1) -> float:
        """Wait for `cost` units; return the seconds waited."""
        if self._async is None:
            self._async = redis_async.from_url(self.url)
        waited = 0.0
        while True:
            wait_ms = int(await self._async.eval(_SCRIPT, *self._args(cost)))
            if wait_ms <= 0:
                return waited
            await asyncio.sleep(wait_ms / 1000)
            waited += wait_ms / 1000

    def acquire_sync(self, cost: float = 1) -> float:
        if self._sync is None:
            self._sync = redis.Redis.from_url(self.url)
        waited = 0.0
        while True:
            wait_ms = int(self._sync.eval(_SCRIPT, *self._args(cost)))
            if wait_ms <= 0:
                return waited
            time.sleep(wait_ms / 1000)
            waited += wait_ms / 1000

    async def block_for(self, seconds: float) -> None:
        """Stop every process using this key for `seconds` (after a 429 with Retry-After)."""
        if self._async is None:
            self._async = redis_async.from_url(self.url)
        await self._async.set(self.block, "1", px=max(int(seconds * 1000), 1))

    def block_for_sync(self, seconds: float) -> None:
        if self._sync is None:
            self._sync = redis.Redis.from_url(self.url)
        self._sync.set(self.block, "1", px=max(int(seconds * 1000), 1))

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None
