"""Live bots on the sandbox exchange: reconciliation before acting, durable intent, fills once.

Every case sets up the exchange and the books as a crash would have left them, then starts
the bot: before it places anything it must make the books equal the exchange.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from exchanges.gateway.clients import sync_client
from tests.trading.conftest import LIVE_OK, VENUE_A
from trading.models import Bot, Fill, Order
from trading.runtime.runner import BotRunner
from trading.services.bots import LiveConsent, bot_create, bot_start
from trading.services.orders import Batch, FillDraft, bot_books_write

pytestmark = pytest.mark.usefixtures("alice_totp")


@pytest.fixture(autouse=True)
def _quick_polls(settings, market):
    settings.PEREGRINE_BOT_POLL_SECONDS = 0.5
    market.clear(VENUE_A, "BTC/USDT")  # no book: the market maker cannot quote, only reconcile


@pytest.fixture
def live_bot(alice, live_account):
    def make(funds=None, **params):
        account = live_account(alice, funds=funds)
        bot = bot_create(
            user=alice,
            name=f"live-{account.label}",
            strategy="pure_market_making",
            params={"order_amount": "0.01", "order_refresh_time_ms": 60_000, **params},
            symbols=["BTC/USDT"],
            venues=[{"exchange_account_id": account.pk}],
            budget="10000",
            mode="live",
            live=LiveConsent(**LIVE_OK),
        )
        bot_start(bot=bot, live=LiveConsent(**LIVE_OK))
        bot.account = account
        return bot

    return make


def _client(bot):
    sandbox = bot.account.sandbox
    return sync_client(
        VENUE_A, api_key=sandbox.api_key, secret=sandbox.secret, sandbox_url=sandbox.base_url
    )


def _touch(sandbox, side):
    book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
    return (book.best_ask() if side == "buy" else book.best_bid())[0]


def _row(bot, cid, **fields):
    values = {
        "bot": bot,
        "user": bot.user,
        "mode": bot.mode,
        "exchange": VENUE_A,
        "exchange_account": bot.account,
        "symbol": "BTC/USDT",
        "client_order_id": cid,
        "side": "buy",
        "type": "limit",
        "qty": Decimal("0.01"),
        "price": Decimal("20000"),
        "status": Order.Status.OPEN,
    }
    values.update(fields)
    return Order.objects.create(**values)


def _booked(order):
    return Fill.objects.filter(order=order).aggregate(q=Sum("qty"))["q"] or Decimal(0)


def test_an_order_open_on_the_exchange_but_missing_from_the_books_is_adopted(live_bot):
    bot = live_bot()
    cid = f"{bot.client_id_prefix}7-1"
    _client(bot).create_order("BTC/USDT", "limit", "buy", 0.01, 20000, {"clientOrderId": cid})
    foreign = _client(bot).create_order("BTC/USDT", "limit", "buy", 0.01, 20000)
    assert BotRunner(bot.pk).run() == "continued"
    order = Order.objects.get(client_order_id=cid)
    assert order.adopted and order.bot_id == bot.pk
    assert order.exchange_order_id and order.qty == Decimal("0.01")
    assert not Order.objects.filter(exchange_order_id=foreign["id"]).exists()
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING
    reconcile = bot.events.filter(kind="reconcile").first()
    assert reconcile.data["adopted"] == 1


def test_an_order_filled_while_the_bot_was_down_is_booked_with_its_fills(live_bot, sandbox):
    bot = live_bot()
    cid = f"{bot.client_id_prefix}7-2"
    price = _touch(sandbox, "buy") * Decimal("1.01")
    order = _row(bot, cid, price=price.quantize(Decimal("0.01")), status=Order.Status.NEW)
    # the runner committed the intent, sent it, and died before it heard the answer
    _client(bot).create_order(
        "BTC/USDT", "limit", "buy", 0.01, float(order.price), {"clientOrderId": cid}
    )
    assert BotRunner(bot.pk).run() == "continued"
    order.refresh_from_db()
    assert order.status == Order.Status.FILLED
    assert order.filled_qty == Decimal("0.01") and order.exchange_order_id
    assert _booked(order) == Decimal("0.01")
    assert Fill.objects.filter(order=order).first().source == "reconcile"


def test_a_partially_filled_order_is_booked_and_stays_tracked(live_bot, sandbox):
    bot = live_bot(funds={"USDT": "400000", "BTC": "1"})
    cid = f"{bot.client_id_prefix}7-3"
    sandbox[0].paused = True  # the market stands still: what fills at arrival is all that fills
    try:
        price = _touch(sandbox, "buy")
        _row(bot, cid, price=price, qty=Decimal("8"))
        _client(bot).create_order(
            "BTC/USDT", "limit", "buy", 8, float(price), {"clientOrderId": cid}
        )
        assert BotRunner(bot.pk).run() == "continued"
        exchange = _client(bot).fetch_order(None, "BTC/USDT", {"origClientOrderId": cid})
    finally:
        sandbox[0].paused = False
    order = Order.objects.get(client_order_id=cid)
    assert order.status == Order.Status.PARTIALLY_FILLED, order.status
    assert Decimal(0) < order.filled_qty < Decimal("8")
    assert _booked(order) == order.filled_qty
    assert Decimal(str(exchange["filled"])) == order.filled_qty


def test_an_order_the_exchange_never_saw_is_lost_only_after_three_answers_over_a_minute(
    live_bot,
):
    bot = live_bot()
    fresh = _row(bot, f"{bot.client_id_prefix}7-4", status=Order.Status.NEW)
    old = _row(
        bot,
        f"{bot.client_id_prefix}7-5",
        status=Order.Status.UNKNOWN,
        not_found_count=2,
        first_not_found_at=timezone.now() - timedelta(seconds=61),
    )
    assert BotRunner(bot.pk).run() == "continued"  # a 2 s slice, polling every 0.5 s
    fresh.refresh_from_db()
    old.refresh_from_db()
    assert fresh.status == Order.Status.UNKNOWN and fresh.not_found_count >= 3
    assert old.status == Order.Status.LOST
    assert "declared lost" in old.reason


def test_an_unknown_order_found_on_the_exchange_is_resolved(live_bot):
    bot = live_bot()
    cid = f"{bot.client_id_prefix}7-6"
    order = _row(bot, cid, status=Order.Status.UNKNOWN, not_found_count=1,
                 first_not_found_at=timezone.now())  # fmt: skip
    _client(bot).create_order("BTC/USDT", "limit", "buy", 0.01, 20000, {"clientOrderId": cid})
    assert BotRunner(bot.pk).run() == "continued"
    order.refresh_from_db()
    assert order.status == Order.Status.OPEN and order.exchange_order_id


def test_a_fill_seen_twice_is_booked_once(live_bot):
    bot = live_bot()
    order = _row(bot, f"{bot.client_id_prefix}7-7")
    draft = FillDraft(
        client_order_id=order.client_order_id, exchange=VENUE_A, account_key=str(bot.account.pk),
        symbol="BTC/USDT", trade_id="991", side="buy", price=Decimal("20000"),
        qty=Decimal("0.004"), fee=Decimal("0.08"), fee_asset="USDT", liquidity="maker",
        ts_ms=1_700_000_000_000, source="stream",
    )  # fmt: skip
    first = bot_books_write(bot=bot, token=None, batch=Batch(fills=[draft, draft]))
    second = bot_books_write(bot=bot, token=None, batch=Batch(fills=[draft]))
    assert len(first.new_fills) == 1 and second.new_fills == []
    assert Fill.objects.filter(order=order).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_live_market_maker_sends_each_order_after_its_row_is_committed(
    live_bot, sandbox, market, monkeypatch, settings
):
    import psycopg

    from exchanges.gateway.ccxt_gateway import CcxtGateway

    db = settings.DATABASES["default"]
    other = psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"],
        autocommit=True,
    )  # fmt: skip
    seen = []
    original = CcxtGateway.create_order

    async def spy(self, **kwargs):
        row = other.execute(  # another connection sees only what is committed
            "SELECT status FROM trading_order WHERE client_order_id = %s",
            [kwargs["client_order_id"]],
        ).fetchone()
        seen.append(row[0] if row else None)
        return await original(self, **kwargs)

    monkeypatch.setattr(CcxtGateway, "create_order", spy)
    bot = live_bot(order_refresh_time_ms=500)
    book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
    bid, ask = book.best_bid()[0], book.best_ask()[0]
    market.book(VENUE_A, "BTC/USDT", bid, ask)
    assert BotRunner(bot.pk).run() == "continued"
    assert seen and all(status == Order.Status.NEW for status in seen)
    exchange = _client(bot).fetch_open_orders("BTC/USDT")
    ours = {o["clientOrderId"] for o in exchange if o["clientOrderId"].startswith("pg")}
    books = set(
        Order.objects.filter(bot=bot, status__in=["open", "partially_filled"]).values_list(
            "client_order_id", flat=True
        )
    )
    assert ours == books
    other.close()


def test_an_exchange_in_maintenance_stops_the_slice_not_the_bot(live_bot, sandbox):
    from django.db import connection

    from trading.models import BotLease

    bot = live_bot()
    venue = sandbox[0].venues[VENUE_A]
    venue.maintenance = True
    try:
        assert BotRunner(bot.pk).run() == "crashed"
    finally:
        venue.maintenance = False
    bot.refresh_from_db()
    assert bot.status == Bot.Status.STARTING  # not error: the supervisor will resume it
    assert BotLease.objects.get(bot=bot).expires_at is not None  # left to run out
    with connection.cursor() as cursor:
        cursor.execute("UPDATE trading_botlease SET expires_at = now() WHERE bot_id = %s", [bot.pk])
    assert BotRunner(bot.pk).run() == "continued"
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING


def test_a_reconciliation_is_described_in_words():
    from trading.runtime.reconcile import SyncReport

    assert SyncReport().describe() == "nothing to correct"
    report = SyncReport(adopted=["a", "b"], lost=["c"], new_fills=[object()] * 3)
    assert report.describe() == (
        "2 orders adopted from the exchange, 1 order lost (never reached the exchange), "
        "3 fills booked"
    )
