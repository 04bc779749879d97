"""A pure market maker started with quote currency only: it bids, holds its asks back (saying
so) instead of sending orders the exchange refuses, and offers asks once a bid has filled."""

from decimal import Decimal as D

from tradecore.backtest import MarketEvent, run_events
from tradecore.clock import SimulatedClock
from tradecore.domain import OrderStatus, Side, Trade
from tradecore.exchange import SimulatedExchange
from tradecore.strategies.market_making import PureMarketMakingConfig, PureMarketMakingStrategy
from tradecore.testing import instrument


def book(ts, bid, ask):
    snap = {"bids": [(str(bid), "5")], "asks": [(str(ask), "5")], "ts_ms": ts}
    return MarketEvent(ts, "x", "BTC-USDT", snap)


def maker(levels=1):
    return PureMarketMakingStrategy(PureMarketMakingConfig(
        bid_spread="0.001", ask_spread="0.001", order_amount="0.5", order_levels=levels,
        order_level_spread="0.001", order_refresh_time_ms=1000, filled_order_delay_ms=0,
    ))  # fmt: skip


def venue_with(clock, **funds):
    venue = SimulatedExchange("x", [instrument(maker="0", taker="0")], clock=clock)
    for asset, amount in funds.items():
        venue.deposit("default", asset, amount)
    return venue


def sent(engine, side=None):
    """Every order the engine sent, in order (run_events cancels what rests at the end)."""
    return [t for t in engine.om.orders.values() if side is None or t.intent.side is side]


def test_quote_only_maker_bids_holds_asks_back_and_asks_after_a_bid_fills():
    clock = SimulatedClock(1_000)
    venue = venue_with(clock, USDT="1000")
    strategy = maker()
    engine, _ = run_events(
        strategy, [book(1_000, 99.9, 100.1), book(1_600, 99.9, 100.1)], {"x": venue}, clock,
        timer_ms=500,
    )  # fmt: skip
    assert sent(engine) and sent(engine, Side.SELL) == []  # bids only, no ask sent
    assert all(OrderStatus.REJECTED not in t.history for t in sent(engine))
    assert strategy.held_back == {
        "sell": {"asset": "BTC", "held": "0", "needed": "0.500", "levels": 1}
    }
    assert strategy.snapshot()["held_back"] == strategy.held_back

    # a seller hits the bid: the maker now holds 0.5 BTC and offers it
    strategy, clock = maker(), SimulatedClock(1_000)
    venue = venue_with(clock, USDT="1000")
    events = [
        book(1_000, 99.9, 100.1),
        MarketEvent(2_000, "x", "BTC-USDT", Trade(2_000, 99.0, 1.0, Side.SELL, "t1")),
        book(3_000, 99.9, 100.1),
        book(4_000, 99.9, 100.1),
    ]
    engine, _ = run_events(strategy, events, {"x": venue}, clock, timer_ms=500)
    assert venue.balance("default", "BTC").total == D("0.5")
    assert sent(engine, Side.SELL), "asks offered once it holds base"
    assert all(OrderStatus.REJECTED not in t.history for t in sent(engine))
    assert "sell" not in strategy.held_back


def test_levels_beyond_the_holdings_are_held_back_on_either_side():
    clock = SimulatedClock(1_000)
    venue = venue_with(clock, USDT="60", BTC="0.6")  # one bid of 0.5 at ~99.8 costs ~50 USDT
    strategy = maker(levels=2)
    engine, _ = run_events(strategy, [book(1_000, 99.9, 100.1)], {"x": venue}, clock)
    assert sorted((t.intent.side, t.level) for t in sent(engine)) == [
        (Side.BUY, 0), (Side.SELL, 0)
    ]  # fmt: skip
    assert strategy.held_back["sell"]["levels"] == 1 and strategy.held_back["sell"]["held"] == "0.6"
    assert strategy.held_back["buy"]["asset"] == "USDT"
