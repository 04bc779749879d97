"""A rate budget per API key shared by every process that uses the key (Redis token bucket).

The bucket lives in Redis and is updated by one Lua script, with Redis's own clock, so workers
on several machines draw from the same budget. A 429 from the exchange blocks the whole key
for its Retry-After. Budgets are set under the exchange's documented limit (80% by default).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

import redis
import redis.asyncio as redis_async

# KEYS[1] bucket hash, KEYS[2] block key; ARGV: capacity, refill per ms, cost.
# Returns 0 when the cost was taken, else the milliseconds to wait before trying again.
_SCRIPT = """
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + (now - ts) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = math.ceil((cost - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return wait
"""

# documented limits: (units per window, window seconds). Binance spot: 6000 weight per minute.
DOCUMENTED_LIMITS = {"binance": (6000, 60)}
HEADROOM = 0.8


@dataclass(frozen=True)
class Budget:
    capacity: float
    window_seconds: float

    @property
    def per_ms(self) -> float:
        return self.capacity / (self.window_seconds * 1000)


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
    """Token bucket in Redis; `acquire(cost)` waits until the shared budget allows the call."""

    def __init__(self, url: str, scope: str, budget: Budget, *, prefix: str = "ratelimit") -> None:
        self.url = url
        self.budget = budget
        self.bucket = f"{prefix}:{scope}"
        self.block = f"{prefix}:{scope}:blocked"
        self._async: redis_async.Redis | None = None
        self._sync: redis.Redis | None = None

    def _args(self, cost: float):
        return (2, self.bucket, self.block, self.budget.capacity, self.budget.per_ms, cost)

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
