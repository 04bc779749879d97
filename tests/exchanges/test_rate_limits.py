"""Rate limits as Binance applies them, and the gateway's limiter keeping under them.

The sandbox counts request weight per IP in fixed windows; past the limit it answers 429 with
Retry-After, and an IP that keeps sending through its 429s is banned with 418 for 2 minutes,
doubling for each repeat. The gateway's shared limiter is a sliding window: no window of the
exchange's length ever holds more than the budget, so a client that goes through it is never
refused, whatever the speed of the calls.
"""

import asyncio
import uuid

import ccxt
import pytest
import requests
from django.conf import settings

from exchanges.gateway.ccxt_gateway import CcxtGateway
from exchanges.gateway.errors import Action, classify
from exchanges.gateway.ratelimit import Budget, RateLimiter
from exchanges.sandbox.errors import BinanceError
from exchanges.sandbox.server import WeightBudget
from exchanges.sandbox.testing import open_account, start_sandbox


def test_a_418_backs_the_gateway_off_for_its_retry_after():
    decision = classify(ccxt.DDoSProtection("418"), headers={"Retry-After": "120"})
    assert decision.action is Action.BACKOFF and decision.retry_after == 120


def _status(budget, ip, weight, now):
    try:
        budget.spend(ip, weight, now)
    except BinanceError as exc:
        return exc.status, int(exc.headers["Retry-After"])
    return 200, 0


def test_repeated_violations_escalate_to_a_418_ban_that_doubles():
    budget = WeightBudget(100, refusals_before_ban=3)
    t = 10 * 60_000  # the start of a window
    assert _status(budget, "a", 100, t) == (200, 0)
    # over the limit: 429 with the seconds left in the window
    assert [_status(budget, "a", 1, t + 30_000 + i) for i in range(3)] == [(429, 30)] * 3
    # a fourth request through the refusals: banned for 2 minutes
    assert _status(budget, "a", 1, t + 31_000) == (418, 120)
    assert _status(budget, "a", 1, t + 91_000) == (418, 60)  # any request, any weight
    assert _status(budget, "b", 1, t + 91_000) == (200, 0)  # another IP is not affected
    after = t + 31_000 + 120_000
    assert _status(budget, "a", 1, after) == (200, 0)  # the ban is over, a fresh window
    # the next ban lasts twice as long
    window = after - after % 60_000 + 60_000
    assert _status(budget, "a", 100, window) == (200, 0)
    assert [_status(budget, "a", 1, window + 1)[0] for _ in range(3)] == [429] * 3
    assert _status(budget, "a", 1, window + 2) == (418, 240)


def test_a_ban_over_http_is_418_with_retry_after_and_ccxt_raises_its_class():
    server, url = start_sandbox(weight_limit=30, venues=["sandbox"])
    try:
        statuses = [requests.get(f"{url}/sandbox/api/v3/exchangeInfo", timeout=5) for _ in range(5)]
        assert [r.status_code for r in statuses] == [200, 429, 429, 429, 418]
        banned = statuses[-1]
        assert banned.json()["code"] == -1003 and "banned until" in banned.json()["msg"]
        assert 100 <= int(banned.headers["Retry-After"]) <= 120
        ping = requests.get(f"{url}/sandbox/api/v3/ping", timeout=5)
        assert ping.status_code == 418
        client = ccxt.binance()
        client.urls["api"]["public"] = f"{url}/sandbox/api/v3"
        with pytest.raises(ccxt.DDoSProtection):  # ccxt's class for 418 (and 429's parent)
            client.fetch_time()
    finally:
        server.stop_thread()


async def test_the_gateway_limiter_never_exceeds_the_sandbox_window():
    """A 2-second window here instead of a minute (so the test is short): the sandbox allows
    100 weight per window, the gateway's budget is 80% of it, and 60 order-book reads of
    weight 5 (300 weight, three windows' worth) from four concurrent callers all pass."""
    server, url = start_sandbox(weight_limit=100, weight_window_ms=2000, venues=["sandbox"])
    account = open_account(server, url)
    scope = f"test-{uuid.uuid4().hex[:8]}"
    used: list[int] = []
    try:
        limiter = RateLimiter(settings.REDIS_URL, scope, Budget(80, 2))
        async with CcxtGateway(
            "sandbox",
            api_key=account.api_key,
            secret=account.secret,
            sandbox_url=url,
            limiter=limiter,
            max_read_attempts=1,
        ) as gw:
            gw.client.enableRateLimit = False  # only the shared limiter paces the calls

            async def reader():
                for _ in range(15):
                    await gw.fetch_order_book(symbol="BTC/USDT", limit=5)
                    used.append(int(gw.client.last_response_headers["X-MBX-USED-WEIGHT-1M"]))

            await asyncio.wait_for(asyncio.gather(*(reader() for _ in range(4))), 60)
    finally:
        server.stop_thread()
    assert len(used) == 60  # no call was refused (a 429 raises GatewayError)
    assert max(used) <= 100


async def test_the_limiter_admits_no_more_than_the_budget_in_any_window():
    """The limiter alone: what it admits in one window is at most the budget, and the rest
    waits for the oldest spend to leave the window (not a refill rate)."""
    scope = f"test-{uuid.uuid4().hex[:8]}"
    limiter = RateLimiter(settings.REDIS_URL, scope, Budget(40, 1.5))
    try:
        waits = [await limiter.acquire(10) for _ in range(4)]
        assert waits == [0, 0, 0, 0]  # the whole budget at once
        loop = asyncio.get_running_loop()
        started = loop.time()
        await limiter.acquire(10)  # waits for the first spend to leave the window
        assert loop.time() - started >= 1.3
    finally:
        await limiter.aclose()
