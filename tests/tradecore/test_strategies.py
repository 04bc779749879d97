import json
from decimal import Decimal as D

import pytest

from tradecore.backtest import MarketEvent, run_events
from tradecore.clock import SimulatedClock
from tradecore.domain import Candle, OrderStatus, Side, Trade
from tradecore.engine import TradingEngine
from tradecore.exchange import SimulatedExchange
from tradecore.strategies import REGISTRY, ConfigError, validate_config
from tradecore.strategies.arbitrage import (
    CrossExchangeMarketMakingConfig,
    CrossExchangeMarketMakingStrategy,
    SpatialArbitrageConfig,
    SpatialArbitrageStrategy,
    TriangularArbitrageConfig,
    TriangularArbitrageStrategy,
)
from tradecore.strategies.grid_dca import DcaConfig, DcaStrategy, GridConfig, GridStrategy
from tradecore.strategies.market_making import (
    AvellanedaStoikovConfig,
    AvellanedaStoikovStrategy,
    PureMarketMakingConfig,
    PureMarketMakingStrategy,
)
from tradecore.testing import instrument

SYMBOL = "BTC-USDT"


def book(bid, ask, size="5", ts=0):
    return {"bids": [(str(bid), size)], "asks": [(str(ask), size)], "ts_ms": ts}


def venue_with(clock, name="sim", quote="10000", base="10", **inst):
    venue = SimulatedExchange(name, [instrument(**inst)], clock=clock)
    if D(quote) > 0:
        venue.deposit("default", "USDT", quote)
    if D(base) > 0:
        venue.deposit("default", "BTC", base)
    return venue


def engine_for(strategy, venues, clock):
    engine = TradingEngine(strategy, venues, clock=clock)
    engine.start()
    return engine


def feed_book(engine, venue, bid, ask, ts, size="5"):
    engine.clock.set(ts)
    venue.on_book(SYMBOL, book(bid, ask, size, ts))
    engine.on_book(SYMBOL, venue.book(SYMBOL), venue.name)


def resting(venue):
    orders = venue.open_orders("default", SYMBOL)
    return sorted((o.side.value, o.price, o.qty) for o in orders)


# -- pure market making ----------------------------------------------------------------------
def pmm(**kw):
    defaults = dict(bid_spread="0.01", ask_spread="0.01", order_amount="1",
                    order_refresh_time_ms=1000, filled_order_delay_ms=5000)  # fmt: skip
    return PureMarketMakingStrategy(PureMarketMakingConfig(**{**defaults, **kw}))


def test_pmm_quotes_levels_around_the_mid():
    clock = SimulatedClock(0)
    venue = venue_with(clock, quote="100000")
    engine = engine_for(pmm(order_levels=2, order_level_spread="0.01", order_level_amount="0.5"),
                        venue, clock)  # fmt: skip
    feed_book(engine, venue, "99.9", "100.1", 1)
    assert resting(venue) == [
        ("buy", D("98.00"), D("1.5")), ("buy", D("99.00"), D("1.0")),
        ("sell", D("101.00"), D("1.0")), ("sell", D("102.00"), D("1.5")),
    ]  # fmt: skip


def test_pmm_keeps_orders_within_refresh_tolerance_and_replaces_beyond_it():
    clock = SimulatedClock(0)
    venue = venue_with(clock)
    engine = engine_for(pmm(order_refresh_tolerance="0.002"), venue, clock)
    feed_book(engine, venue, "99.9", "100.1", 1)
    ids = {o.client_order_id for o in venue.open_orders("default")}
    feed_book(engine, venue, "100.0", "100.2", 2000)  # mid +0.1%: kept
    assert {o.client_order_id for o in venue.open_orders("default")} == ids
    feed_book(engine, venue, "100.9", "101.1", 4000)  # mid +1%: replaced
    assert not ids & {o.client_order_id for o in venue.open_orders("default")}
    assert resting(venue)[0][1] == D("99.99")


def test_pmm_waits_after_a_fill_then_ping_pongs_and_hangs_the_other_side():
    clock = SimulatedClock(0)
    venue = venue_with(clock)
    engine = engine_for(pmm(ping_pong_enabled=True, hanging_orders_enabled=True), venue, clock)
    feed_book(engine, venue, "99.9", "100.1", 1)
    ask_id = next(o.client_order_id for o in venue.open_orders("default") if o.side is Side.SELL)
    feed_book(engine, venue, "98.5", "98.9", 2000)  # the book crosses our 99 bid: filled
    assert engine.fills and engine.fills[0].side is Side.BUY
    feed_book(engine, venue, "98.5", "98.9", 3000)  # inside the filled-order delay
    assert [o.client_order_id for o in venue.open_orders("default")] == [ask_id]
    feed_book(engine, venue, "98.5", "98.9", 8000)  # after the delay: ask side only
    sides = [(o.side, o.client_order_id == ask_id) for o in venue.open_orders("default")]
    assert sorted(sides) == [(Side.SELL, False), (Side.SELL, True)]  # hanging + new ask


def test_pmm_inventory_skew_sizes_towards_target():
    clock = SimulatedClock(0)
    venue = venue_with(clock, quote="0.0", base="20")
    venue.deposit("default", "USDT", "1")
    engine = engine_for(pmm(inventory_skew_enabled=True, order_amount="2"), venue, clock)
    feed_book(engine, venue, "99.9", "100.1", 1)
    sizes = {side: qty for side, _, qty in resting(venue)}
    assert sizes.get("buy") is None  # base far above target: the bid shrinks to nothing
    assert sizes["sell"] == D("4")


def test_pmm_price_band_and_minimum_spread():
    clock = SimulatedClock(0)
    venue = venue_with(clock)
    engine = engine_for(pmm(price_ceiling="95"), venue, clock)
    feed_book(engine, venue, "99.9", "100.1", 1)
    assert [s for s, _, _ in resting(venue)] == ["sell"]
    venue2 = venue_with(clock, name="v2")
    engine2 = engine_for(pmm(bid_spread="0.001", minimum_spread="0.005"), venue2, clock)
    feed_book(engine2, venue2, "99.9", "100.1", 2)
    assert [s for s, _, _ in resting(venue2)] == ["sell"]


# -- Avellaneda-Stoikov --------------------------------------------------------------------
def as_strategy(**kw):
    cfg = dict(order_amount="1", risk_aversion=0.5, min_spread="0", order_refresh_time_ms=0)
    return AvellanedaStoikovStrategy(AvellanedaStoikovConfig(**{**cfg, **kw}))


def drive_as(strategy, base, quote, mids, trades=()):
    clock = SimulatedClock(0)
    venue = venue_with(clock, quote=quote, base=base)
    engine = engine_for(strategy, venue, clock)
    for i, mid in enumerate(mids):
        feed_book(engine, venue, mid - 0.5, mid + 0.5, 1 + i * 1000)
    for t in trades:
        strategy.on_trade(SYMBOL, Trade(10**6, t, 1.0, Side.BUY))
    return strategy, venue


MIDS = [100, 101, 99.5, 100.5, 101.5, 100, 99, 100.5, 100, 100.2]


def test_as_reservation_price_leans_against_inventory():
    long_, _ = drive_as(as_strategy(), base="20", quote="0.01", mids=MIDS)
    short, _ = drive_as(as_strategy(), base="0.0", quote="2000", mids=MIDS)
    inst = instrument()
    r_long, bid_long, ask_long = long_.prices(inst)
    r_short, _, _ = short.prices(inst)
    mid = float(long_.mid)
    assert long_.inventory(inst) > 0 > short.inventory(inst)
    assert r_long < mid < r_short
    assert ask_long - mid < mid - bid_long  # the long book is keener to sell


def test_as_spread_follows_the_closed_form_and_kappa_from_trades():
    strategy, _ = drive_as(as_strategy(), base="10", quote="1000", mids=MIDS, trades=[100.5, 99.0])
    inst = instrument()
    gamma, sigma2 = 0.5, strategy.variance()
    kappa = 1 / ((abs(100.5 - 100.2) + abs(99.0 - 100.2)) / 2)
    assert strategy.kappa() == pytest.approx(kappa)
    import math

    expected = gamma * sigma2 + 2 / gamma * math.log(1 + gamma / kappa)
    _, bid, ask = strategy.prices(inst)
    assert ask - bid == pytest.approx(expected)


def test_as_finite_horizon_spread_shrinks_towards_the_end():
    strategy, _ = drive_as(as_strategy(horizon="finite", session_length_ms=20_000), "10", "1000",
                           MIDS)  # fmt: skip
    inst = instrument()
    early = strategy.prices(inst)
    strategy.ctx.clock.set(19_900)
    late = strategy.prices(inst)
    assert late[2] - late[1] < early[2] - early[1]


# -- cross-venue ---------------------------------------------------------------------------
def two_venues(clock):
    maker = SimulatedExchange("maker", [instrument(maker="0.001", taker="0.001")], clock=clock)
    taker = SimulatedExchange("taker", [instrument(maker="0.001", taker="0.001")], clock=clock)
    for v in (maker, taker):
        v.deposit("default", "USDT", "10000")
        v.deposit("default", "BTC", "10")
    return {"maker": maker, "taker": taker}


def test_xemm_quotes_only_at_profitable_prices_and_hedges_fills():
    clock = SimulatedClock(0)
    venues = two_venues(clock)
    cfg = CrossExchangeMarketMakingConfig(order_amount="1", min_profitability="0.004",
                                          latency_buffer="0.001")  # fmt: skip
    events = [
        MarketEvent(1, "taker", SYMBOL, {"bids": [("100", "0.5"), ("99", "5")],
                                         "asks": [("101", "5")], "ts_ms": 1}),
        MarketEvent(2, "maker", SYMBOL, book("98", "103", ts=2)),
        MarketEvent(3, "maker", SYMBOL, book("97", "97.5", ts=3)),  # sellers cross our bid
    ]  # fmt: skip
    engine, _ = run_events(CrossExchangeMarketMakingStrategy(cfg), events, venues, clock)
    maker_fill = next(f for f in engine.fills if f.venue == "maker")
    hedges = [f for f in engine.fills if f.venue == "taker"]
    hedge_qty = sum(f.qty for f in hedges)
    proceeds = sum(f.price * f.qty - f.fee for f in hedges)
    walked = D("100") * D("0.5") + D("99") * D("0.5")  # taker bid walked for 1 BTC
    assert maker_fill.side is Side.BUY and maker_fill.price <= walked * D("0.999") / D("1.001") / D(
        "1.005"
    )
    assert all(f.side is Side.SELL for f in hedges) and hedge_qty == maker_fill.qty
    pnl = proceeds - (maker_fill.price * maker_fill.qty + maker_fill.fee)
    assert pnl / (maker_fill.price * maker_fill.qty) >= D("0.004")


def test_spatial_arbitrage_trades_a_wide_gap_and_ignores_a_narrow_one():
    clock = SimulatedClock(0)
    venues = two_venues(clock)
    cfg = SpatialArbitrageConfig(venue_a="maker", venue_b="taker", order_amount="1",
                                 min_profitability="0.002", latency_buffer="0.001")  # fmt: skip
    narrow = [MarketEvent(1, "maker", SYMBOL, book("99.9", "100", ts=1)),
              MarketEvent(2, "taker", SYMBOL, book("100.3", "100.4", ts=2))]  # fmt: skip
    engine, _ = run_events(SpatialArbitrageStrategy(cfg), narrow, venues, clock)
    assert engine.fills == []
    clock = SimulatedClock(0)
    venues = two_venues(clock)
    wide = [MarketEvent(1, "maker", SYMBOL, book("99.9", "100", ts=1)),
            MarketEvent(2, "taker", SYMBOL, book("101", "101.1", ts=2))]  # fmt: skip
    engine, _ = run_events(SpatialArbitrageStrategy(cfg), wide, venues, clock)
    buy = next(f for f in engine.fills if f.side is Side.BUY)
    sell = next(f for f in engine.fills if f.side is Side.SELL)
    assert (buy.venue, buy.price, sell.venue, sell.price) == ("maker", D("100"), "taker", D("101"))
    usdt = sum(v.balance("default", "USDT").total for v in venues.values())
    btc = sum(v.balance("default", "BTC").total for v in venues.values())
    assert btc == D("20") and usdt > D("20000")


def triangle_venue(clock, eth_usdt_bid):
    insts = [
        instrument("BTC-USDT", tick="0.01", lot="0.00001", min_notional="0", taker="0.001"),
        instrument("ETH-BTC", tick="0.00001", lot="0.0001", min_notional="0", taker="0.001"),
        instrument("ETH-USDT", tick="0.01", lot="0.0001", min_notional="0", taker="0.001"),
    ]
    venue = SimulatedExchange("v", insts, clock=clock)
    venue.deposit("default", "USDT", "1000")
    venue.on_book("BTC-USDT", {"bids": [("49990", "10")], "asks": [("50000", "10")], "ts_ms": 1})
    venue.on_book("ETH-BTC", {"bids": [("0.0599", "100")], "asks": [("0.06", "100")], "ts_ms": 1})
    eth = {"bids": [(eth_usdt_bid, "100")], "asks": [("3100", "100")], "ts_ms": 1}
    return venue, eth


def test_triangular_arbitrage_runs_the_profitable_cycle_with_fees():
    clock = SimulatedClock(0)
    venue, eth = triangle_venue(clock, "3050")  # 1/50000/0.06*3050 = 1.0167 before fees
    cfg = TriangularArbitrageConfig(start_amount="1000", min_profitability="0.005")
    strategy = TriangularArbitrageStrategy(cfg)
    engine, _ = run_events(strategy, [MarketEvent(2, "v", "ETH-USDT", eth)], {"v": venue}, clock)
    assert [(f.symbol, f.side.value) for f in engine.fills] == [
        ("BTC-USDT", "buy"), ("ETH-BTC", "buy"), ("ETH-USDT", "sell"),
    ]  # fmt: skip
    assert venue.balance("default", "USDT").total > D("1010")


def test_triangular_arbitrage_ignores_an_edge_that_fees_eat():
    clock = SimulatedClock(0)
    venue, eth = triangle_venue(clock, "3002")  # +0.07% gross, -0.3% in fees
    strategy = TriangularArbitrageStrategy(TriangularArbitrageConfig(start_amount="1000"))
    engine, _ = run_events(strategy, [MarketEvent(2, "v", "ETH-USDT", eth)], {"v": venue}, clock)
    assert engine.fills == []
    edge, _ = strategy.forward()
    assert edge < 0


# -- grid and DCA --------------------------------------------------------------------------
def candle_events(closes, step=60_000, venue="sim"):
    events, prev = [], closes[0]
    for i, c in enumerate(closes):
        lo, hi = min(prev, c), max(prev, c)
        events.append(
            MarketEvent(i * step, venue, SYMBOL, Candle(i * step, prev, hi, lo, c, 100.0))
        )
        prev = c
    return events


def test_grid_answers_each_fill_one_level_away_and_profits_from_oscillation():
    clock = SimulatedClock(0)
    venue = venue_with(clock, quote="10000", base="1", min_notional="0")
    cfg = GridConfig(lower_price="90", upper_price="110", levels=5, order_amount="0.1")
    strategy = GridStrategy(cfg)
    closes = [100, 96, 94, 99, 101, 106, 104, 99, 94, 97, 101, 106, 100]
    engine, equity = run_events(strategy, candle_events(closes), {"sim": venue}, clock)
    assert strategy.grid == [D("90"), D("95"), D("100"), D("105"), D("110")]
    fills = [(f.side.value, f.price) for f in engine.fills]
    assert ("buy", D("95")) in fills and ("sell", D("100")) in fills
    assert ("sell", D("105")) in fills and ("buy", D("100")) in fills
    buys = sum(1 for s, _ in fills if s == "buy")
    sells = sum(1 for s, _ in fills if s == "sell")
    assert buys >= 2 and sells >= 2
    assert equity[-1][1] > 10000 + 100  # the same 100 close as the start, plus grid profits


def test_dca_buys_on_schedule_and_takes_profit():
    clock = SimulatedClock(0)
    venue = venue_with(clock, quote="1000", base="0")
    day = 86_400_000
    cfg = DcaConfig(quote_amount="100", interval_ms=2 * day, max_orders=4, take_profit="0.2")
    closes = [100, 100, 90, 90, 80, 80, 90, 90, 100, 110, 111]
    engine, _ = run_events(DcaStrategy(cfg), candle_events(closes, step=day), {"sim": venue}, clock)
    buys = [f for f in engine.fills if f.side is Side.BUY]
    sells = [f for f in engine.fills if f.side is Side.SELL]
    assert len(buys) == 4  # days 1, 3, 5, 7 (filled at the next day's open), then max_orders
    assert len(sells) == 1  # 110 is more than 20% over the ~88 average cost
    assert venue.balance("default", "BTC").total == 0


# -- every strategy ------------------------------------------------------------------------
@pytest.mark.parametrize("strategy_id", sorted(REGISTRY))
def test_every_strategy_has_schema_defaults_docs_and_restores_its_state(strategy_id):
    jsonschema = pytest.importorskip("jsonschema")
    cls = REGISTRY[strategy_id]
    schema = cls.config_class.json_schema()
    defaults = cls.config_class().to_dict()
    jsonschema.validate(defaults, schema)
    assert all(prop["description"] for prop in schema["properties"].values())
    assert cls.__doc__ and cls.config_class.__doc__
    strategy = cls()
    state = json.loads(json.dumps(strategy.snapshot()))
    clone = cls()
    clone.restore(state)
    assert json.dumps(clone.snapshot()) == json.dumps(strategy.snapshot())


@pytest.mark.parametrize(
    "strategy_id, params, field",
    [
        ("pure_market_making", {"bid_spread": "-0.1"}, "bid_spread"),
        ("pure_market_making", {"order_levels": 0}, "order_levels"),
        ("avellaneda_stoikov", {"horizon": "forever"}, "horizon"),
        ("cross_exchange_market_making", {"taker_venue": "maker"}, "taker_venue"),
        ("grid", {"lower_price": "120"}, "lower_price"),
        ("dca", {"interval_ms": "soon"}, "interval_ms"),
        ("rsi_mean_reversion", {"oversold": 80}, "oversold"),
        ("macd", {"fast": 30}, "fast"),
        ("bollinger", {"nope": 1}, "nope"),
    ],
)
def test_validate_config_names_the_bad_field(strategy_id, params, field):
    with pytest.raises(ConfigError) as info:
        validate_config(strategy_id, params)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")


def test_fill_status_reaches_strategies():
    clock = SimulatedClock(0)
    venue = venue_with(clock)
    engine = engine_for(pmm(), venue, clock)
    feed_book(engine, venue, "99", "101", 1)
    feed_book(engine, venue, "97", "98.5", 2000)
    assert engine.fills[0].order_status is OrderStatus.FILLED


def test_xemm_quotes_that_would_cross_the_maker_book_rest_one_tick_inside_it():
    clock = SimulatedClock(0)
    venues = two_venues(clock)
    cfg = CrossExchangeMarketMakingConfig(order_amount="1", min_profitability="0.004",
                                          latency_buffer="0.001")  # fmt: skip
    events = [
        MarketEvent(1, "maker", SYMBOL, {"bids": [("98", "5")], "asks": [("99", "0.5")],
                                         "ts_ms": 1}),
        # the taker venue is 10% richer: the profitable bid is far above the maker's best ask
        MarketEvent(2, "taker", SYMBOL, book("110", "111", ts=2)),
    ]  # fmt: skip
    engine, _ = run_events(CrossExchangeMarketMakingStrategy(cfg), events, venues, clock)
    tick = venues["maker"].instruments[SYMBOL].tick_size
    orders = list(engine.om.orders.values())
    bids = [o for o in orders if o.intent.side is Side.BUY]
    assert [o.intent.price for o in bids] == [D("99") - tick]
    assert OrderStatus.OPEN in bids[0].history
    assert all(OrderStatus.REJECTED not in o.history for o in orders)
