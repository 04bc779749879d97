"""The risk sweep judges a bot on the equity its owner sees on the portfolio page.

One computation (portfolio.valuation) serves both, so they agree also where two hand-written
ones used to differ: a fee paid in a third asset, a fee booked without an asset (taken from the
quote), and a market with no mark (valued at the bot's last fill price).
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from django.urls import reverse

from portfolio.selectors import portfolio_summary
from portfolio.templatetags.money import money
from tests.trading.conftest import VENUE_A
from trading.models import Bot, Fill, Order
from trading.services.risk import bots_value, risk_sweep


def _fill(bot, symbol, side, qty, price, fee, fee_asset, minute):
    order = Order.objects.create(
        bot=bot,
        user=bot.user,
        mode=bot.mode,
        exchange=VENUE_A,
        symbol=symbol,
        client_order_id=f"{bot.client_id_prefix}x-{uuid.uuid4().hex[:8]}",
        side=side,
        type="limit",
        price=Decimal(price),
        qty=Decimal(qty),
        filled_qty=Decimal(qty),
        status="filled",
    )
    Fill.objects.create(
        bot=bot,
        order=order,
        user=bot.user,
        mode=bot.mode,
        exchange=VENUE_A,
        account_key=f"paper-{bot.pk}",
        symbol=symbol,
        trade_id=f"t-{uuid.uuid4().hex[:8]}",
        side=side,
        price=Decimal(price),
        qty=Decimal(qty),
        fee=Decimal(fee),
        fee_asset=fee_asset,
        executed_at=datetime(2026, 1, 5, 12, minute, tzinfo=UTC),
        source="paper",
    )


def test_the_sweeps_equity_is_the_portfolio_pages_with_a_third_asset_fee_and_a_missing_mark(
    alice, make_bot, market, client
):
    bot = make_bot(
        alice,
        symbols=["BTC/USDT", "ETH/USDT"],
        paper_balances={VENUE_A: {"USDT": "10000", "BNB": "2"}},
    )
    Bot.objects.filter(pk=bot.pk).update(status=Bot.Status.RUNNING)
    bot.refresh_from_db()
    _fill(bot, "BTC/USDT", "buy", "0.1", "30000", "0.01", "BNB", minute=1)  # fee in BNB
    _fill(bot, "ETH/USDT", "buy", "1", "2000", "2", "", minute=2)  # fee without an asset
    market.book(VENUE_A, "BTC/USDT", 30_999, 31_001)
    market.book(VENUE_A, "BNB/USDT", 299, 301)
    market.clear(VENUE_A, "ETH/USDT")  # no mark: the last fill price values the ETH
    market.clear(VENUE_A, "USDT/BNB")
    # USDT 10000 - 3000 - 2000 - 2, BTC 0.1 x 31000, ETH 1 x 2000, BNB (2 - 0.01) x 300
    expected = Decimal("4998") + Decimal("3100") + Decimal("2000") + Decimal("597")

    swept = bots_value([bot])[bot.pk]
    assert swept.equity == expected and swept.unpriced == []
    assert swept.exposure == Decimal("3100") + Decimal("2000") + Decimal("597")
    shown = {b.pk: value for b, value in portfolio_summary(user=alice).bots}[bot.pk]
    assert shown.total_value == swept.equity
    client.force_login(alice)
    page = client.get(reverse("portfolio:overview"))
    assert page.status_code == 200
    assert money(expected) in page.content.decode()
    # and the sweep acts on that number: it is the peak it tracks
    assert risk_sweep()["checked"] == [bot.pk]
    bot.refresh_from_db()
    assert bot.peak_equity == expected
