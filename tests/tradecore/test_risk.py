from decimal import Decimal as D

import pytest

from tradecore.clock import SimulatedClock
from tradecore.domain import Candle, Denial, OrderType, Side
from tradecore.engine import TradingEngine
from tradecore.exchange import SimulatedExchange
from tradecore.intents import OrderIntent
from tradecore.order_manager import OrderManager
from tradecore.risk import RiskLimits, RiskManager, RiskView
from tradecore.strategies.base import Strategy
from tradecore.testing import instrument


def view(mid="100", position="0", open_orders=0, now=0):
    return RiskView(now, D(mid), D(position), open_orders)


def limit_buy(qty="1", price="100"):
    return OrderIntent("BTC-USDT", Side.BUY, OrderType.LIMIT, D(qty), D(price))


@pytest.mark.parametrize(
    "limits, intent, v, rule",
    [
        (RiskLimits(max_order_qty=D("0.5")), limit_buy("1"), view(), "order_size"),
        (RiskLimits(max_order_notional=D("50")), limit_buy("1"), view(), "order_notional"),
        (RiskLimits(max_position_qty=D("2")), limit_buy("1"), view(position="1.5"), "position"),
        (RiskLimits(budget=D("1000")), limit_buy("6"), view(), "exposure"),
        (RiskLimits(budget=D("1000")), limit_buy("1"), view(position="4.5"), "exposure"),
        (
            RiskLimits(price_band_fraction=D("0.05")),
            limit_buy("1", "90"),
            view(),
            "price_band",
        ),
        (RiskLimits(max_open_orders=3), limit_buy(), view(open_orders=3), "open_orders"),
    ],
)
def test_each_pre_trade_rule_denies_with_a_reason(limits, intent, v, rule):
    risk = RiskManager(limits)
    denial = risk.check(intent, v)
    assert isinstance(denial, Denial) and denial.rule == rule and denial.reason


def test_exposure_defaults_to_half_the_budget():
    risk = RiskManager(RiskLimits(budget=D("1000")))
    assert risk.check(limit_buy("5"), view()) is None  # 500 = 50%
    assert risk.check(limit_buy("5.01"), view()).rule == "exposure"


def test_orders_within_limits_pass():
    limits = RiskLimits(max_order_qty=D("2"), max_open_orders=5, price_band_fraction=D("0.1"))
    assert RiskManager(limits).check(limit_buy("1", "95"), view()) is None


def test_order_rate_limit_uses_a_sliding_minute():
    risk = RiskManager(RiskLimits(max_orders_per_minute=2))
    assert risk.check(limit_buy(), view(now=0)) is None
    assert risk.check(limit_buy(), view(now=10_000)) is None
    assert risk.check(limit_buy(), view(now=20_000)).rule == "order_rate"
    assert risk.check(limit_buy(), view(now=60_001)) is None


def test_kill_switch_denies_new_risk_but_allows_reducing():
    risk = RiskManager()
    risk.kill("manual")
    assert risk.check(limit_buy(), view()).rule == "kill_switch"
    sell = OrderIntent("BTC-USDT", Side.SELL, OrderType.MARKET, D(1), reduces_position=True)
    assert risk.check(sell, view()) is None
    risk.resume()
    assert risk.check(limit_buy(), view()) is None


@pytest.mark.parametrize(
    "limits, marks, rule",
    [
        (RiskLimits(stop_loss_fraction=D("0.05")), ["100", "96", "94.9"], "stop_loss"),
        (RiskLimits(take_profit_fraction=D("0.1")), ["100", "105", "110"], "take_profit"),
        (RiskLimits(trailing_stop_fraction=D("0.05")), ["100", "120", "113.9"], "trailing_stop"),
    ],
)
def test_position_guards_trip_only_at_their_level(limits, marks, rule):
    risk = RiskManager(limits)
    trips = [risk.evaluate(i, D("1000"), D("1"), D("100"), D(m)) for i, m in enumerate(marks)]
    assert trips[0] == [] and trips[1] == []
    assert [t.rule for t in trips[2]] == [rule]
    assert trips[2][0].action == "flatten"


def test_max_drawdown_halts():
    risk = RiskManager(RiskLimits(max_drawdown_fraction=D("0.2")))
    assert risk.evaluate(0, D("1000"), D(0), D(0), D(100)) == []
    assert risk.evaluate(1, D("1200"), D(0), D(0), D(100)) == []
    trips = risk.evaluate(2, D("960"), D(0), D(0), D(100))
    assert [t.rule for t in trips] == ["max_drawdown"] and risk.halted


def test_daily_loss_limit_halts_and_resets_next_day():
    risk = RiskManager(RiskLimits(daily_loss_limit=D("100")))
    risk.evaluate(0, D("1000"), D(0), D(0), D(1))
    assert risk.evaluate(1000, D("950"), D(0), D(0), D(1)) == []
    assert [t.rule for t in risk.evaluate(2000, D("900"), D(0), D(0), D(1))] == ["daily_loss"]
    risk.resume()
    next_day = 86_400_000 + 5
    assert risk.evaluate(next_day, D("900"), D(0), D(0), D(1)) == []


def test_denial_is_an_event_and_nothing_reaches_the_venue():
    clock = SimulatedClock(0)
    venue = SimulatedExchange("sim", [instrument()], clock=clock)
    venue.deposit("bot", "USDT", "10000")
    venue.on_candle("BTC-USDT", Candle(0, 100.0, 100.0, 100.0, 100.0, 1.0))
    om = OrderManager(venue, "bot", clock=clock, risk=RiskManager(RiskLimits(max_order_qty=D(1))))
    result = om.submit(limit_buy("2", "99"))
    assert isinstance(result, Denial) and result.rule == "order_size"
    assert om.denials() == [result]
    assert venue.open_orders("bot") == [] and om.orders == {}


class HoldStrategy(Strategy):
    """Buys once at start and holds."""

    def on_start(self, ctx):
        super().on_start(ctx)
        return [OrderIntent("BTC-USDT", Side.BUY, OrderType.MARKET, D("1"))]


def test_engine_flattens_on_stop_loss_and_kill_switch_cancels_everything():
    clock = SimulatedClock(0)
    venue = SimulatedExchange("sim", [instrument()], clock=clock)
    venue.deposit("default", "USDT", "10000")
    venue.on_candle("BTC-USDT", Candle(0, 100.0, 100.0, 100.0, 100.0, 1.0))
    risk = RiskManager(RiskLimits(stop_loss_fraction=D("0.05")))
    engine = TradingEngine(HoldStrategy(), venue, clock=clock, risk=risk)
    engine.start()
    venue.on_candle("BTC-USDT", Candle(1000, 100.0, 100.0, 100.0, 100.0, 1.0))
    engine.process_fills()
    assert engine.ctx.position("BTC-USDT") == D(1)
    venue.on_candle("BTC-USDT", Candle(2000, 94.0, 94.0, 94.0, 94.0, 1.0))
    assert [t.rule for t in engine.check_guards("BTC-USDT")] == ["stop_loss"]
    venue.on_candle("BTC-USDT", Candle(3000, 93.0, 93.0, 93.0, 93.0, 1.0))
    engine.process_fills()
    assert engine.ctx.position("BTC-USDT") == 0
    engine.om.submit(limit_buy("1", "50"))
    engine.kill("operator pressed the kill switch")
    assert venue.open_orders("default") == []
    assert isinstance(engine.om.submit(limit_buy("1", "50")), Denial)


class BrokenStrategy(Strategy):
    """Quotes once, then raises on the next candle."""

    def on_candle(self, symbol, candle):
        if self.ctx.open_orders(symbol):
            raise RuntimeError("bug in user strategy")
        return [OrderIntent("BTC-USDT", Side.BUY, OrderType.LIMIT, D("1"), D("90"))]


def test_a_strategy_that_raises_stops_only_its_own_engine():
    clock = SimulatedClock(0)
    venue = SimulatedExchange("sim", [instrument()], clock=clock)
    venue.deposit("default", "USDT", "10000")
    engine = TradingEngine(BrokenStrategy(), venue, clock=clock, contain_errors=True)
    engine.start()
    candle = Candle(0, 100.0, 100.0, 100.0, 100.0, 1.0)
    venue.on_candle("BTC-USDT", candle)
    engine.on_candle("BTC-USDT", candle)
    assert len(venue.open_orders("default")) == 1
    engine.on_candle("BTC-USDT", candle)  # raises inside: contained
    assert engine.error == "RuntimeError: bug in user strategy"
    assert venue.open_orders("default") == [] and engine.risk.halted
    engine.on_candle("BTC-USDT", candle)  # ignored from now on
    with pytest.raises(RuntimeError):
        strict = TradingEngine(BrokenStrategy(), venue, clock=clock, id_prefix="bot2")
        strict.start()
        strict.on_candle("BTC-USDT", candle)
        strict.on_candle("BTC-USDT", candle)
