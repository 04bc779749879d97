"""The bot runtime and fee intelligence: arbitrage bots plan with the realized taker fee where
it is worse than the published one, and every order records the mid it was decided at."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from tests.trading.conftest import VENUE_A, VENUE_B
from trading.models import Order, RealizedCost
from trading.runtime.runner import BotRunner
from trading.services.bots import bot_start

D = Decimal
ARB = {"order_amount": "0.01", "min_profitability": "0.002", "latency_buffer": "0.0005"}


def _realized(exchange, fee_rate, users=5):
    now = timezone.now()
    return RealizedCost.objects.create(
        exchange=exchange, symbol="BTC/USDT", liquidity="taker", users=users, fills=50,
        notional=D("50000"), fee_rate=D(fee_rate), fee_fills=50, slippage_bp=D("1.5"),
        slippage_fills=50, window_start=now - timedelta(days=30), window_end=now, computed_at=now,
    )  # fmt: skip


def _arbitrage_slice(alice, make_bot, market):
    """A paper spatial arbitrage bot sees A's ask 100.0 and B's bid 100.6 and runs a slice.

    Edge with both venues' published 0.1%: 100.6 x 0.999 / (100 x 1.001) - 1 = 0.40% (above
    the 0.25% required); with a realized 0.3% on A: 100.6 x 0.999 / (100 x 1.003) - 1 = 0.20%.
    """
    bot = make_bot(
        alice,
        strategy="spatial_arbitrage",
        params={**ARB, "venue_a": VENUE_A, "venue_b": VENUE_B},
        venues=[VENUE_A, VENUE_B],
        paper_balances={VENUE_A: {"USDT": "10000"}, VENUE_B: {"BTC": "1"}},
    )
    bot_start(bot=bot)
    market.book(VENUE_A, "BTC/USDT", 99.9, 100.0, size="5")
    market.book(VENUE_B, "BTC/USDT", 100.6, 100.7, size="5")
    runner = BotRunner(bot.pk)
    assert runner.run() == "continued"
    return bot, runner


def test_published_fees_let_the_arbitrage_trade_and_orders_record_their_mid(
    alice, make_bot, market
):
    bot, runner = _arbitrage_slice(alice, make_bot, market)
    published = runner.engine.ctx.instrument("BTC/USDT", VENUE_A).taker_fee
    assert published == D("0.001")
    buy = Order.objects.filter(bot=bot, side="buy").first()
    sell = Order.objects.filter(bot=bot, side="sell").first()
    assert buy is not None and sell is not None
    assert (buy.exchange, sell.exchange) == (VENUE_A, VENUE_B)
    assert buy.reference_price == D("99.95")  # A's mid when the bot decided
    assert sell.reference_price == D("100.65")


def test_a_worse_realized_taker_fee_is_what_the_arbitrage_plans_with(alice, make_bot, market):
    _realized(VENUE_A, "0.003")
    _realized(VENUE_B, "0.0002")  # better than published: not used
    bot, runner = _arbitrage_slice(alice, make_bot, market)
    assert runner.engine.ctx.instrument("BTC/USDT", VENUE_A).taker_fee == D("0.003")
    assert runner.engine.ctx.instrument("BTC/USDT", VENUE_B).taker_fee == D("0.001")
    assert not Order.objects.filter(bot=bot).exists()  # 0.20% net is below the 0.25% required


def test_other_families_keep_the_published_fee(alice, make_bot, feeder):
    _realized(VENUE_A, "0.003")
    bot = make_bot(alice)  # a market maker
    bot_start(bot=bot)
    runner = BotRunner(bot.pk)
    with feeder():
        runner.run()
    assert runner.engine.ctx.instrument("BTC/USDT", VENUE_A).taker_fee == D("0.001")
    order = Order.objects.filter(bot=bot).first()
    assert order is not None and order.reference_price is not None
    # a maker quotes away from the mid it decided at
    if order.side == "buy":
        assert order.price < order.reference_price
    else:
        assert order.price > order.reference_price
