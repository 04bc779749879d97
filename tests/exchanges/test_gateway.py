"""The ccxt gateway against the sandbox exchange: orders by client id, errors mapped to actions."""

import asyncio
import importlib
import inspect
import uuid
from decimal import Decimal

import ccxt
import pytest
import redis
from aiohttp import web
from django.conf import settings

from exchanges.gateway import clients
from exchanges.gateway.ccxt_gateway import CcxtGateway
from exchanges.gateway.errors import ACTIONS, Action, GatewayError, action_for, classify
from exchanges.gateway.ratelimit import Budget, RateLimiter
from exchanges.sandbox.testing import open_account, start_sandbox
from tradecore.domain import OrderStatus


def _ccxt_error_classes() -> set[type]:
    module = importlib.import_module("ccxt.base.errors")
    found = {
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == module.__name__
    }

    def walk(tree: dict) -> None:
        for name, sub in tree.items():
            found.add(getattr(ccxt, name))
            walk(sub)

    walk(ccxt.error_hierarchy)
    return found


def test_every_ccxt_exception_class_has_an_explicit_action():
    classes = _ccxt_error_classes()
    assert len(classes) > 35
    unmapped = sorted(c.__name__ for c in classes if c not in ACTIONS)
    assert unmapped == [], f"decide an action for: {unmapped}"


@pytest.mark.parametrize(
    ("cls", "action"),
    [
        (ccxt.InsufficientFunds, Action.TERMINAL),
        (ccxt.InvalidOrder, Action.TERMINAL),
        (ccxt.BadSymbol, Action.TERMINAL),
        (ccxt.RateLimitExceeded, Action.BACKOFF),
        (ccxt.DDoSProtection, Action.BACKOFF),
        (ccxt.ExchangeNotAvailable, Action.PAUSE),
        (ccxt.OnMaintenance, Action.PAUSE),
        (ccxt.AuthenticationError, Action.DISABLE_KEY),
        (ccxt.PermissionDenied, Action.DISABLE_KEY),
        (ccxt.AccountSuspended, Action.DISABLE_KEY),
        (ccxt.InvalidNonce, Action.RESYNC_TIME),
        (ccxt.OrderNotFound, Action.NOT_FOUND),
        (ccxt.RequestTimeout, Action.RETRY),
    ],
)
def test_issue_actions(cls, action):
    assert action_for(cls) is action


def test_creation_outcome_is_unknown_only_when_the_exchange_may_have_executed():
    assert classify(ccxt.RequestTimeout("t"), creating=True).action is Action.UNKNOWN
    assert classify(ccxt.NetworkError("n"), creating=True).action is Action.UNKNOWN
    assert classify(ccxt.ExchangeNotAvailable("502"), creating=True).action is Action.UNKNOWN
    assert classify(TimeoutError(), creating=True).action is Action.UNKNOWN
    assert classify(ccxt.RateLimitExceeded("429"), creating=True).action is Action.BACKOFF
    assert classify(ccxt.OnMaintenance("m"), creating=True).action is Action.PAUSE
    assert classify(ccxt.InsufficientFunds("f"), creating=True).action is Action.TERMINAL
    decision = classify(ccxt.DDoSProtection("429"), headers={"Retry-After": "7"})
    assert decision.action is Action.BACKOFF and decision.retry_after == 7


@pytest.fixture
def limiter():
    scope = f"test-{uuid.uuid4().hex[:8]}"
    return RateLimiter(settings.REDIS_URL, scope, Budget(6000, 60))


def _gateway(account, **kwargs) -> CcxtGateway:
    return CcxtGateway(
        "sandbox",
        api_key=account.api_key,
        secret=account.secret,
        sandbox_url=account.base_url,
        **kwargs,
    )


async def test_order_lifecycle_by_client_order_id(sandbox_account, limiter):
    async with _gateway(sandbox_account, limiter=limiter) as gw:
        markets = await gw.load_markets()
        assert markets["BTC/USDT"].price_step == Decimal("0.01")
        assert markets["BTC/USDT"].min_cost == Decimal("5")
        ticker = await gw.fetch_ticker(symbol="BTC/USDT")
        price = Decimal(str(round(ticker["bid"] * 0.9, 2)))
        cid = f"pg-{uuid.uuid4().hex[:12]}"
        order = await gw.create_order(
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            amount=Decimal("0.01"),
            price=price,
            client_order_id=cid,
        )
        assert order.status is OrderStatus.OPEN and order.client_order_id == cid
        assert order.price == price
        fetched = await gw.fetch_order(symbol="BTC/USDT", client_order_id=cid)
        assert fetched.exchange_order_id == order.exchange_order_id
        assert [o.client_order_id for o in await gw.fetch_open_orders(symbol="BTC/USDT")] == [cid]
        cancelled = await gw.cancel_order(symbol="BTC/USDT", client_order_id=cid)
        assert cancelled.status is OrderStatus.CANCELLED
        market = await gw.create_order(
            symbol="BTC/USDT",
            side="buy",
            type="market",
            amount=Decimal("0.002"),
            client_order_id=cid + "m",
        )
        assert market.status is OrderStatus.FILLED and market.filled == Decimal("0.002")
        trades = await gw.fetch_my_trades(symbol="BTC/USDT")
        assert any(t.order_id == market.exchange_order_id for t in trades)
        balance = await gw.fetch_balance()
        # Binance charges a buyer's fee in the base asset received: 0.1% of 0.002 BTC
        assert balance["BTC"].total == Decimal("1.002") - Decimal("0.002") * Decimal("0.001")
        book = await gw.fetch_order_book(symbol="BTC/USDT", limit=5)
        assert book["bids"][0][0] < book["asks"][0][0]
        bars = await gw.fetch_ohlcv(symbol="BTC/USDT", timeframe="1m", limit=10)
        assert len(bars) == 10


async def test_terminal_and_not_found_errors(sandbox_account):
    async with _gateway(sandbox_account) as gw:
        with pytest.raises(GatewayError) as info:
            await gw.create_order(
                symbol="BTC/USDT",
                side="buy",
                type="market",
                amount=Decimal("40"),
                client_order_id="too-big",
            )
        assert info.value.action is Action.TERMINAL
        with pytest.raises(GatewayError) as info:
            await gw.fetch_order(symbol="BTC/USDT", client_order_id="never-sent")
        assert info.value.action is Action.NOT_FOUND


async def test_refused_key_is_reported_for_disabling(sandbox_account):
    reasons = []

    async def disable(reason):
        reasons.append(reason)

    async with CcxtGateway(
        "sandbox",
        api_key="e" * 64,
        secret="0" * 64,
        sandbox_url=sandbox_account.base_url,
        on_disable_key=disable,
    ) as gw:
        with pytest.raises(GatewayError) as info:
            await gw.fetch_balance()
    assert info.value.action is Action.DISABLE_KEY
    assert len(reasons) == 1 and "-2015" in reasons[0]


async def test_clock_drift_is_resynced_and_the_read_succeeds(sandbox_account):
    async with _gateway(sandbox_account) as gw:
        gw.client.options["timeDifference"] = 120_000  # our clock two minutes behind
        balance = await gw.fetch_balance()
        assert balance["USDT"].total > 0
        assert abs(gw.client.options["timeDifference"]) < 2_000


async def test_maintenance_pauses(sandbox_server, sandbox_account):
    sandbox_server.call(setattr, sandbox_server.venues["sandbox"], "maintenance", True)
    try:
        async with _gateway(sandbox_account) as gw:
            with pytest.raises(GatewayError) as info:
                await gw.fetch_ticker(symbol="BTC/USDT")
        assert info.value.action is Action.PAUSE
    finally:
        sandbox_server.call(setattr, sandbox_server.venues["sandbox"], "maintenance", False)


async def test_rate_limit_blocks_the_key_for_retry_after(limiter):
    server, url = start_sandbox(weight_limit=25, venues=["sandbox"])
    try:
        async with CcxtGateway(
            "sandbox", sandbox_url=url, limiter=limiter, max_read_attempts=1
        ) as gw:
            await gw.load_markets(reload=True)  # weight 20
            with pytest.raises(GatewayError) as info:
                for _ in range(5):
                    await gw.fetch_order_book(symbol="BTC/USDT")  # weight 5 each
        assert info.value.action is Action.BACKOFF
        assert 1 <= info.value.decision.retry_after <= 60
        ttl = redis.Redis.from_url(settings.REDIS_URL).pttl(limiter.block)
        assert 0 < ttl <= info.value.decision.retry_after * 1000
    finally:
        server.stop_thread()


class _SlowExchange:
    """A loopback HTTP server that accepts requests and never answers in time."""

    def __init__(self):
        self.orders = 0

    async def handle(self, request):
        if request.method == "POST":
            self.orders += 1
        await asyncio.sleep(5)
        return web.json_response({})

    async def start(self):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


async def test_create_timeout_makes_the_order_unknown_and_is_sent_once(sandbox_account):
    slow = _SlowExchange()
    slow_url = await slow.start()
    try:
        async with _gateway(sandbox_account, timeout_ms=300) as gw:
            await gw.load_markets(reload=True)
            gw.client.urls["api"].update(clients.sandbox_urls(slow_url, "sandbox"))
            order = await gw.create_order(
                symbol="BTC/USDT",
                side="buy",
                type="limit",
                amount=Decimal("0.01"),
                price=Decimal("20000"),
                client_order_id="pg-timeout-1",
            )
        assert order.status is OrderStatus.UNKNOWN
        assert order.client_order_id == "pg-timeout-1"
        assert slow.orders == 1
    finally:
        await slow.runner.cleanup()


async def test_create_on_a_dead_connection_is_unknown(sandbox_account):
    async with _gateway(sandbox_account, timeout_ms=500) as gw:
        await gw.load_markets(reload=True)
        gw.client.urls["api"].update(clients.sandbox_urls("http://127.0.0.1:9", "sandbox"))
        order = await gw.create_order(
            symbol="BTC/USDT",
            side="sell",
            type="market",
            amount=Decimal("0.01"),
            client_order_id="pg-dead-1",
        )
    assert order.status is OrderStatus.UNKNOWN


async def test_unknown_order_is_resolved_by_lookup(sandbox_account):
    async with _gateway(sandbox_account) as gw:
        # the order reached the exchange, but (say) the response was lost
        await gw.client.load_markets()
        await gw.client.create_order(
            "ETH/USDT", "market", "buy", 0.01, None, {"clientOrderId": "pg-lost-1"}
        )
        found = await gw.fetch_order(symbol="ETH/USDT", client_order_id="pg-lost-1")
        assert found.status is OrderStatus.FILLED


async def test_key_revoked_after_use_is_disabled_after_repeated_refusals(
    sandbox_server, sandbox_url
):
    account = open_account(sandbox_server, sandbox_url, {"USDT": "10"})
    reasons = []

    async def disable(reason):
        reasons.append(reason)

    async with CcxtGateway(
        "sandbox",
        api_key=account.api_key,
        secret=account.secret,
        sandbox_url=sandbox_url,
        on_disable_key=disable,
        backoff_base=0.1,
    ) as gw:
        assert (await gw.fetch_balance())["USDT"].total == 10
        sandbox_server.call(sandbox_server.keys._keys.pop, account.api_key)
        with pytest.raises(GatewayError) as info:
            await gw.fetch_balance()  # ccxt: DDoSProtection (-2015 after a success), 3 times
    assert info.value.action is Action.DISABLE_KEY
    assert len(reasons) == 1
