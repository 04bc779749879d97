"""The per-key rate budget is one budget in Redis, shared by every process using the key."""

import multiprocessing
import time
import uuid

import pytest
from django.conf import settings

from exchanges.gateway.ratelimit import Budget, RateLimiter, budget_for, scope_for


def _spend(url, scope, count, queue):
    limiter = RateLimiter(url, scope, Budget(20, 1))
    start = time.monotonic()
    for _ in range(count):
        limiter.acquire_sync(1)
    queue.put(time.monotonic() - start)


def test_two_processes_share_one_budget():
    scope = f"test-{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_spend, args=(settings.REDIS_URL, scope, 30, queue)) for _ in range(2)
    ]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join(20)
    elapsed = time.monotonic() - started
    # 60 units, 20 in the bucket at the start, refilled at 20/s: at least 2 s for the pair
    assert elapsed >= 1.9
    assert max(queue.get(), queue.get()) >= 1.9
    # one process alone would have needed only 0.5 s for its 30 units
    assert elapsed < 6


async def test_block_for_makes_every_holder_wait():
    scope = f"test-{uuid.uuid4().hex[:8]}"
    first = RateLimiter(settings.REDIS_URL, scope, Budget(100, 1))
    second = RateLimiter(settings.REDIS_URL, scope, Budget(100, 1))
    await first.block_for(0.4)
    started = time.monotonic()
    await second.acquire(1)
    assert time.monotonic() - started >= 0.35
    await first.aclose()
    await second.aclose()


def test_budgets_stay_under_documented_limits():
    assert budget_for("binance").capacity == pytest.approx(4800)
    assert budget_for("kraken", 3000).capacity == pytest.approx(16)
    assert "secret-api-key" not in scope_for("binance", "secret-api-key")
