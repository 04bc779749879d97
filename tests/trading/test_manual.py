"""Manual orders on the sandbox exchange: the same durable intent, risk, gateway and books as
bots; refused orders change nothing; only the owner may trade an account by hand."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from compliance.models import AuditEvent
from exchanges.gateway.clients import sync_client
from tests.trading.conftest import VENUE_A
from trading.models import Bot, Fill, KillSwitch, Order
from trading.services import manual
from trading.services.bots import bot_start


def _client(account):
    sandbox = account.sandbox
    return sync_client(
        VENUE_A, api_key=sandbox.api_key, secret=sandbox.secret, sandbox_url=sandbox.base_url
    )


def _touch(sandbox, side):
    book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
    return (book.best_ask() if side == "buy" else book.best_bid())[0]


def _mid(sandbox):
    return (_touch(sandbox, "buy") + _touch(sandbox, "sell")) / 2


def _sell_through(sandbox, price):
    """A market sell at `price` less a dollar on the sandbox venue: it fills resting bids above."""
    from tradecore.domain import Side, Trade

    server = sandbox[0]
    venue = server.venues[VENUE_A]
    trade = Trade(server.clock.now_ms() + 1000, float(price - 1), 1.0, Side.SELL, "through")
    server.call(venue.exchange.on_trade, "BTC/USDT", trade)


def _nothing_written(account):
    assert not Order.objects.filter(exchange_account=account).exists()
    assert not Fill.objects.filter(exchange_account=account).exists()
    assert not AuditEvent.objects.filter(action__startswith="order.manual").exists()


def test_a_market_order_by_hand_fills_on_the_sandbox_and_is_booked_as_a_fill(alice, live_account):
    account = live_account(alice)
    order = manual.manual_order_place(
        user=alice, account=account, symbol="BTC/USDT", side="buy", type="market", qty="0.01"
    )
    assert order.status == Order.Status.FILLED and order.filled_qty == Decimal("0.01")
    assert order.client_order_id.startswith(order.bot.client_id_prefix)
    bot = order.bot
    assert bot.strategy == manual.MANUAL_STRATEGY and bot.mode == Bot.Mode.LIVE
    assert bot.venues.get().exchange_account == account
    fills = list(Fill.objects.filter(order=order))
    assert sum(f.qty for f in fills) == Decimal("0.01")
    assert {f.account_key for f in fills} == {str(account.pk)}
    trades = _client(account).fetch_my_trades("BTC/USDT")
    assert {str(t["id"]) for t in trades} == {f.trade_id for f in fills}
    # the sandbox, like Binance, takes a buyer's fee from the BTC received
    assert _client(account).fetch_balance()["total"]["BTC"] == pytest.approx(2.01 - 0.01 * 0.001)
    audit = AuditEvent.objects.get(action="order.manual_place")
    assert audit.actor == alice and audit.after["client_order_id"] == order.client_order_id


def test_a_limit_order_by_hand_rests_on_the_sandbox_and_is_cancelled(alice, live_account, sandbox):
    account = live_account(alice)
    price = (_touch(sandbox, "buy") * Decimal("0.97")).quantize(Decimal("0.01"))
    order = manual.manual_order_place(
        user=alice, account=account, symbol="BTC/USDT", side="buy", type="limit",
        qty="0.01", price=str(price),
    )  # fmt: skip
    assert order.status == Order.Status.OPEN and order.exchange_order_id
    assert order.sent_at is not None and order.created_at <= order.sent_at
    on_exchange = _client(account).fetch_open_orders("BTC/USDT")
    assert [o["clientOrderId"] for o in on_exchange] == [order.client_order_id]
    panel = manual.manual_panel_get(user=alice, account=account)
    assert [o.pk for o in panel.open_orders] == [order.pk]
    assert "BTC/USDT" in panel.symbols and {b.asset for b in panel.balances} >= {"USDT", "BTC"}
    usdt = next(b for b in panel.balances if b.asset == "USDT")
    assert order.qty * price <= usdt.used <= order.qty * price * Decimal("1.01")  # fee held too

    cancelled = manual.manual_order_cancel(user=alice, account=account, order=order)
    assert cancelled.status == Order.Status.CANCELLED
    assert _client(account).fetch_open_orders("BTC/USDT") == []
    assert AuditEvent.objects.filter(action="order.manual_cancel").count() == 1
    with pytest.raises(ValidationError, match="nothing to cancel"):
        manual.manual_order_cancel(user=alice, account=account, order=cancelled)


def test_a_resting_order_that_fills_later_is_booked_by_the_panels_refresh(
    alice, live_account, sandbox
):
    account = live_account(alice)
    sandbox[0].paused = True  # the market stands still: our bid stays the best one
    try:
        sandbox[0].call(lambda: None)  # a tick under way when it paused is over
        price = _mid(sandbox).quantize(Decimal("0.01"))
        assert _touch(sandbox, "sell") < price < _touch(sandbox, "buy")
        order = manual.manual_order_place(
            user=alice, account=account, symbol="BTC/USDT", side="buy", type="limit",
            qty="0.01", price=str(price),
        )  # fmt: skip
        assert order.status == Order.Status.OPEN
        _sell_through(sandbox, price)  # the market trades through it, after it was placed
    finally:
        sandbox[0].paused = False
    assert Order.objects.get(pk=order.pk).status == Order.Status.OPEN  # the books wait for a sync
    on_exchange = _client(account).fetch_order(
        None, "BTC/USDT", {"origClientOrderId": order.client_order_id}
    )
    assert on_exchange["status"] == "closed", on_exchange  # the setup: it did fill
    panel = manual.manual_panel_get(user=alice, account=account)
    order.refresh_from_db()
    assert order.status == Order.Status.FILLED
    assert sum(f.qty for f in Fill.objects.filter(order=order)) == Decimal("0.01")
    assert panel.open_orders == [] and [f.order_id for f in panel.fills] == [order.pk]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"qty": "-1"}, "qty", "above zero"),
        ({"qty": "abc"}, "qty", "not a number"),
        ({"qty": "0.000001"}, "qty", "multiple of"),
        ({"qty": "0.0001"}, "qty", "below the exchange's minimum"),
        ({"qty": "50"}, "qty", "Insufficient balance"),
        ({"side": "sell", "qty": "3"}, "qty", "Insufficient balance"),
        ({"symbol": "DOGE/EUR"}, "symbol", "does not list"),
        ({"type": "limit"}, "price", "Required"),
        ({"type": "stop"}, "type", "limit or market"),
    ],
)
def test_a_bad_order_is_refused_with_a_clear_error_and_changes_nothing(
    alice, live_account, fields, field, message
):
    account = live_account(alice)
    values = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.01", **fields}
    with pytest.raises(ValidationError) as caught:
        manual.manual_order_place(user=alice, account=account, **values)
    assert message in " ".join(caught.value.message_dict[field])
    _nothing_written(account)
    assert _client(account).fetch_open_orders("BTC/USDT") == []
    assert not Bot.objects.filter(strategy=manual.MANUAL_STRATEGY).exists()


def test_a_limit_far_from_the_mid_is_refused_by_the_risk_check_and_changes_nothing(
    alice, live_account, sandbox
):
    account = live_account(alice)
    price = (_mid(sandbox) * Decimal("0.5")).quantize(Decimal("0.01"))
    with pytest.raises(ValidationError, match="risk check: price .* outside"):
        manual.manual_order_place(
            user=alice, account=account, symbol="BTC/USDT", side="buy", type="limit",
            qty="0.01", price=str(price),
        )  # fmt: skip
    _nothing_written(account)
    assert _client(account).fetch_open_orders("BTC/USDT") == []


def test_an_engaged_kill_switch_refuses_orders_by_hand(alice, live_account):
    account = live_account(alice)
    KillSwitch.objects.create(user=alice, reason="stop everything")
    with pytest.raises(ValidationError, match="kill switch is engaged"):
        manual.manual_order_place(
            user=alice, account=account, symbol="BTC/USDT", side="buy", type="market", qty="0.01"
        )
    _nothing_written(account)


def test_the_manual_record_cannot_be_started_as_a_bot(alice, live_account):
    account = live_account(alice)
    order = manual.manual_order_place(
        user=alice, account=account, symbol="BTC/USDT", side="buy", type="market", qty="0.01"
    )
    with pytest.raises(ValidationError, match="placed by hand"):
        bot_start(bot=order.bot)
    assert Bot.objects.get(pk=order.bot_id).status == Bot.Status.STOPPED


def test_bob_cannot_trade_or_cancel_on_alices_account(alice, bob, live_account, sandbox):
    account = live_account(alice)
    price = (_touch(sandbox, "buy") * Decimal("0.97")).quantize(Decimal("0.01"))
    order = manual.manual_order_place(
        user=alice, account=account, symbol="BTC/USDT", side="buy", type="limit",
        qty="0.01", price=str(price),
    )  # fmt: skip
    with pytest.raises(Http404):
        manual.manual_order_place(
            user=bob, account=account, symbol="BTC/USDT", side="buy", type="market", qty="0.01"
        )
    with pytest.raises(Http404):
        manual.manual_order_get(user=bob, account=account, id=order.pk)
    with pytest.raises(Http404):
        manual.manual_order_cancel(user=bob, account=account, order=order)
    with pytest.raises(Http404):
        manual.manual_panel_get(user=bob, account=account)
    order.refresh_from_db()
    assert order.status == Order.Status.OPEN and Order.objects.count() == 1


def test_a_kill_switch_cancels_orders_placed_by_hand_on_a_sandbox_account_in_paper_mode(
    alice, sandbox, sandbox_url
):
    from exchanges.sandbox.testing import open_account
    from exchanges.services.credentials import exchange_account_create
    from trading.services.risk import kill_switch_engage

    keys = open_account(sandbox[0], sandbox[1], {"USDT": "10000", "BTC": "1"})
    account = exchange_account_create(
        user=alice, exchange=VENUE_A, label="sandbox paper", mode="paper",
        api_key=keys.api_key, secret=keys.secret,
    )  # fmt: skip
    account.sandbox = keys
    price = (_touch(sandbox, "sell") * Decimal("0.97")).quantize(Decimal("0.01"))
    order = manual.manual_order_place(
        user=alice, account=account, symbol="BTC/USDT", side="buy", type="limit",
        qty="0.01", price=str(price),
    )  # fmt: skip
    assert order.status == Order.Status.OPEN
    switch = kill_switch_engage(reason="panic", user=alice)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED and switch.orders_cancelled == 1
    assert _client(account).fetch_open_orders("BTC/USDT") == []
    with pytest.raises(ValidationError, match="kill switch"):
        manual.manual_order_place(
            user=alice, account=account, symbol="BTC/USDT", side="buy", type="market", qty="0.01"
        )


def test_real_money_by_hand_needs_a_live_account_and_two_factor_sign_in(alice):
    from exchanges.services.credentials import exchange_account_create

    account = exchange_account_create(
        user=alice, exchange="binance", label="real", mode="paper",
        api_key="k" * 20, secret="s" * 20,
    )  # fmt: skip
    order = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.01"}
    with pytest.raises(ValidationError, match="paper mode"):
        manual.manual_order_place(user=alice, account=account, **order)
    account.mode = "live"
    account.save(update_fields=["mode"])
    with pytest.raises(ValidationError, match="two-factor"):
        manual.manual_order_place(user=alice, account=account, **order)
    assert manual.manual_trading_refusal(account=account, second_factor_verified=True) == ""
    _nothing_written(account)


def _committed_status_spy(settings, monkeypatch, *, lose_answer=False):
    """Spy on the gateway's order creation: the status another connection sees at send time."""
    import psycopg

    from exchanges.gateway.ccxt_gateway import CcxtGateway
    from exchanges.gateway.interface import ExchangeOrder
    from tradecore.domain import OrderStatus

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
        sent = await original(self, **kwargs)
        if lose_answer:  # the exchange took it, the answer was lost on the way back
            return ExchangeOrder(
                kwargs["client_order_id"], kwargs["symbol"], kwargs["side"], kwargs["type"],
                OrderStatus.UNKNOWN, kwargs["amount"], reason="read timed out",
            )  # fmt: skip
        return sent

    monkeypatch.setattr(CcxtGateway, "create_order", spy)
    return seen, other


@pytest.mark.django_db(transaction=True)
def test_the_order_row_is_committed_before_the_exchange_hears_of_it(
    alice, live_account, settings, monkeypatch
):
    seen, other = _committed_status_spy(settings, monkeypatch)
    account = live_account(alice)
    order = manual.manual_order_place(
        user=alice, account=account, symbol="BTC/USDT", side="buy", type="market", qty="0.01"
    )
    other.close()
    assert seen == [Order.Status.NEW] and order.status == Order.Status.FILLED


@pytest.mark.django_db(transaction=True)
def test_an_order_whose_answer_is_lost_is_unknown_never_resent_and_found_by_the_refresh(
    alice, live_account, settings, monkeypatch
):
    seen, other = _committed_status_spy(settings, monkeypatch, lose_answer=True)
    account = live_account(alice)
    order = manual.manual_order_place(
        user=alice, account=account, symbol="BTC/USDT", side="buy", type="market", qty="0.01"
    )
    assert order.status == Order.Status.UNKNOWN and seen == [Order.Status.NEW]
    trades = _client(account).fetch_my_trades("BTC/USDT")
    assert sum(t["amount"] for t in trades) == pytest.approx(0.01)  # sent once, filled once
    manual.manual_panel_get(user=alice, account=account)  # the page's refresh
    other.close()
    order.refresh_from_db()
    assert order.status == Order.Status.FILLED and len(seen) == 1
    assert {f.trade_id for f in Fill.objects.filter(order=order)} == {str(t["id"]) for t in trades}


def test_an_exchange_failure_while_trading_gives_the_lease_back(alice, live_account, monkeypatch):
    from exchanges.gateway.errors import Action, Decision, GatewayError
    from trading.services.leases import lease_is_live

    account = live_account(alice)
    first = manual.manual_order_place(
        user=alice, account=account, symbol="BTC/USDT", side="buy", type="market", qty="0.01"
    )

    async def down(gateway, symbols):
        raise GatewayError(Decision(Action.PAUSE, reason="maintenance"), "load_markets")

    monkeypatch.setattr(manual, "load_instruments", down)
    with pytest.raises(ValidationError, match="did not answer"):
        manual.manual_order_place(
            user=alice, account=account, symbol="BTC/USDT", side="buy", type="market", qty="0.01"
        )
    assert not lease_is_live(bot_id=first.bot_id)
    assert Order.objects.filter(exchange_account=account).count() == 1
