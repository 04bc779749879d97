from decimal import Decimal as D

import pytest

from tradecore.clock import SimulatedClock
from tradecore.domain import (
    Candle,
    Instrument,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Trade,
)
from tradecore.exchange import (
    FixedBpsSlippage,
    FixedLatency,
    OrderNotFound,
    SimulatedExchange,
    UniformLatency,
)
from tradecore.orderbook import OrderBook
from tradecore.testing import instrument as btc

BUY, SELL = Side.BUY, Side.SELL


def limit(cid, side, qty, price, **kw):
    return OrderRequest(cid, "BTC-USDT", side, OrderType.LIMIT, D(qty), D(price), **kw)


def market(cid, side, qty="0", **kw):
    return OrderRequest(cid, "BTC-USDT", side, OrderType.MARKET, D(qty), **kw)


def bar(ts, o, h, low, c, v=100.0):
    return Candle(ts, o, h, low, c, v)


def test_limit_buy_locks_quote_with_fee_and_cancel_releases_it(venue):
    order = venue.place_order("alice", limit("a1", BUY, "0.5", "100"))
    assert order.status is OrderStatus.NEW  # no book, no price: it waits for the market
    usdt = venue.balances("alice")["USDT"]
    assert usdt.locked == D("50") * D("1.002")
    assert usdt.free == D("10000") - usdt.locked
    cancelled = venue.cancel_order("alice", client_order_id="a1")
    assert cancelled.status is OrderStatus.CANCELLED
    usdt = venue.balances("alice")["USDT"]
    assert (usdt.free, usdt.locked) == (D("10000"), D("0"))


def test_sell_locks_base(venue):
    venue.place_order("alice", limit("s1", SELL, "0.25", "200"))
    assert venue.balances("alice")["BTC"].locked == D("0.25")
    assert venue.balances("alice")["BTC"].free == D("0.75")


@pytest.mark.parametrize(
    "request_, reason",
    [
        (limit("x", BUY, "1000", "100"), "insufficient funds"),
        (limit("x", SELL, "2", "100"), "insufficient funds"),
        (limit("x", BUY, "0.0005", "100"), "bad precision: quantity"),
        (limit("x", BUY, "0.5", "100.001"), "bad precision: price"),
        (limit("x", BUY, "0.05", "100"), "below minimum notional"),
        (limit("x", BUY, "0", "100"), "quantity must be positive"),
        (OrderRequest("x", "ETH-USDT", BUY, OrderType.LIMIT, D(1), D(1)), "unknown symbol"),
        (OrderRequest("x", "BTC-USDT", BUY, OrderType.LIMIT, D(1)), "need a price"),
    ],
)
def test_bad_orders_are_rejected_with_a_reason_and_lock_nothing(venue, request_, reason):
    order = venue.place_order("alice", request_)
    assert order.status is OrderStatus.REJECTED
    assert reason in order.reason
    assert venue.balances("alice")["USDT"].locked == 0
    assert venue.balances("alice")["BTC"].locked == 0
    assert venue.get_order("alice", order_id=order.order_id).status is OrderStatus.REJECTED


def test_duplicate_client_order_id_is_rejected(venue):
    venue.place_order("alice", limit("dup", BUY, "0.5", "100"))
    again = venue.place_order("alice", limit("dup", BUY, "0.5", "100"))
    assert again.status is OrderStatus.REJECTED and "duplicate" in again.reason


def test_post_only_that_would_cross_is_rejected(venue):
    venue.on_candle("BTC-USDT", bar(0, 100, 101, 99, 100))
    crossing = venue.place_order("alice", limit("p1", BUY, "0.5", "100.5", post_only=True))
    assert crossing.status is OrderStatus.REJECTED and "post-only" in crossing.reason
    resting = venue.place_order("alice", limit("p2", BUY, "0.5", "99.5", post_only=True))
    assert resting.status is OrderStatus.OPEN


def test_market_buy_fills_at_next_candle_open_with_taker_fee(venue, clock):
    venue.on_candle("BTC-USDT", bar(0, 100, 101, 99, 100))
    order = venue.place_order("alice", market("m1", BUY, "1"))
    assert order.status is OrderStatus.NEW and order.filled_qty == 0  # until the next bar
    fills = venue.on_candle("BTC-USDT", bar(1_000, 102, 103, 101, 102))
    assert len(fills) == 1
    fill = fills[0]
    assert (fill.price, fill.qty, fill.liquidity) == (D("102"), D("1"), "taker")
    assert fill.fee == D("102") * D("0.002")
    balances = venue.balances("alice")
    assert balances["USDT"].free == D("10000") - D("102") - fill.fee
    assert balances["USDT"].locked == 0
    assert balances["BTC"].free == D("2")
    assert venue.get_order("alice", client_order_id="m1").status is OrderStatus.FILLED


def test_resting_limit_fills_as_maker_only_when_the_bar_reaches_it(venue):
    venue.on_candle("BTC-USDT", bar(0, 100, 101, 99, 100))
    venue.place_order("alice", limit("l1", BUY, "1", "98"))
    assert venue.on_candle("BTC-USDT", bar(1000, 100, 101, 98.5, 100)) == []
    fills = venue.on_candle("BTC-USDT", bar(2000, 100, 101, 97, 99))
    assert [(f.price, f.liquidity) for f in fills] == [(D("98"), "maker")]
    assert fills[0].fee == D("98") * D("0.001")


def test_trade_through_rule_needs_a_print_beyond_the_price(clock):
    venue = SimulatedExchange("sim", [btc()], clock=clock, candle_fill_on_touch=False)
    venue.deposit("alice", "USDT", "10000")
    venue.on_candle("BTC-USDT", bar(0, 100, 101, 99, 100))
    venue.place_order("alice", limit("l1", BUY, "1", "98"))
    assert venue.on_candle("BTC-USDT", bar(1000, 100, 101, 98, 100)) == []
    assert len(venue.on_candle("BTC-USDT", bar(2000, 100, 101, 97.99, 100))) == 1


def test_marketable_limit_on_arrival_takes_at_the_open(venue):
    venue.on_candle("BTC-USDT", bar(0, 100, 101, 99, 100))
    venue.place_order("alice", limit("l1", BUY, "1", "105"))
    fills = venue.on_candle("BTC-USDT", bar(1000, 103, 104, 102, 103))
    assert [(f.price, f.liquidity) for f in fills] == [(D("103"), "taker")]
    usdt = venue.balances("alice")["USDT"]
    assert usdt.locked == 0 and usdt.free == D("10000") - D("103") * D("1.002")


def test_intrabar_path_bullish_bar_visits_low_before_high(venue):
    """Bullish bar: open->low->high->close. A buy stop at 104 and a buy limit at 96 both fill."""
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    venue.place_order(
        "alice",
        OrderRequest("st", "BTC-USDT", BUY, OrderType.STOP, D(1), stop_price=D("104")),
    )
    fills = venue.on_candle("BTC-USDT", bar(1000, 100, 105, 95, 104))
    assert [(f.price, f.liquidity) for f in fills] == [(D("104"), "taker")]


def test_sell_stop_gapping_through_fills_at_the_open(venue):
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    venue.place_order(
        "alice",
        OrderRequest("sl", "BTC-USDT", SELL, OrderType.STOP, D("0.5"), stop_price=D("95")),
    )
    fills = venue.on_candle("BTC-USDT", bar(1000, 90, 92, 88, 91))
    assert [f.price for f in fills] == [D("90")]


def test_stop_limit_triggers_then_rests_at_its_limit(venue):
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    req = OrderRequest(
        "sx", "BTC-USDT", SELL, OrderType.STOP_LIMIT, D("0.5"), D("96"), stop_price=D("97")
    )
    venue.place_order("alice", req)
    # bearish bar: open->high->low->close; stop at 97 triggers, limit 96 is then reached
    fills = venue.on_candle("BTC-USDT", bar(1000, 99, 100, 95, 95.5))
    assert [f.price for f in fills] == [D("97")]  # marketable at the trigger: takes at 97
    assert fills[0].liquidity == "taker"


def test_partial_fills_by_candle_volume_participation(clock):
    venue = SimulatedExchange("sim", [btc()], clock=clock, max_participation=0.1)
    venue.deposit("alice", "USDT", "10000")
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    venue.place_order("alice", limit("l1", BUY, "5", "99"))
    first = venue.on_candle("BTC-USDT", bar(1000, 100, 100, 98, 99, v=20.0))
    assert [f.qty for f in first] == [D("2")]
    order = venue.get_order("alice", client_order_id="l1")
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_qty == D("2")
    usdt = venue.balances("alice")["USDT"]
    assert usdt.locked == D("3") * D("99") * D("1.002") + D(2) * D(99) * D("0.001")
    venue.on_candle("BTC-USDT", bar(2000, 100, 100, 98, 99, v=100.0))
    order = venue.get_order("alice", client_order_id="l1")
    assert order.status is OrderStatus.FILLED and order.avg_price == D("99")
    assert venue.balances("alice")["USDT"].locked == 0


def test_trades_fill_after_the_queue_ahead_at_the_touch(venue):
    book = OrderBook("BTC-USDT", bids=[(D("99"), D("2"))], asks=[(D("101"), D("1"))], ts_ms=1000)
    venue.on_book("BTC-USDT", book)
    venue.place_order("alice", limit("q1", BUY, "1", "99"))
    assert venue.on_trade("BTC-USDT", Trade(1001, 99.0, 1.5, SELL)) == []
    fills = venue.on_trade("BTC-USDT", Trade(1002, 99.0, 1.0, SELL))
    assert [f.qty for f in fills] == [D("0.5")]
    fills = venue.on_trade("BTC-USDT", Trade(1003, 98.5, 3.0, SELL))
    assert [(f.qty, f.price, f.liquidity) for f in fills] == [(D("0.5"), D("99"), "maker")]


def test_buy_aggressor_trades_do_not_fill_a_resting_bid(venue):
    venue.on_trade("BTC-USDT", Trade(1000, 100.0, 1.0, BUY))
    venue.place_order("alice", limit("q1", BUY, "1", "99"))
    assert venue.on_trade("BTC-USDT", Trade(1001, 99.0, 5.0, BUY)) == []


def test_market_order_walks_the_book(venue):
    book = OrderBook(
        "BTC-USDT",
        bids=[(D("99"), D("1"))],
        asks=[(D("100"), D("0.3")), (D("101"), D("0.5")), (D("102"), D("5"))],
        ts_ms=1000,
    )
    venue.on_book("BTC-USDT", book)
    order = venue.place_order("alice", market("m", BUY, "1"))
    assert order.status is OrderStatus.FILLED
    assert [(f.price, f.qty) for f in venue.fills("alice")] == [
        (D("100"), D("0.3")),
        (D("101"), D("0.5")),
        (D("102"), D("0.2")),
    ]
    assert order.avg_price == book.average_fill_price(BUY, D(1))


def test_crossing_book_fills_resting_limit_as_maker_for_the_crossed_size(venue):
    venue.on_book("BTC-USDT", {"bids": [("99", "1")], "asks": [("101", "1")], "ts_ms": 1000})
    venue.place_order("alice", limit("l", BUY, "2", "100"))
    fills = venue.on_book(
        "BTC-USDT", {"snapshot": False, "asks": [("101", "0"), ("99.5", "0.7")], "ts_ms": 1001}
    )
    assert [(f.price, f.qty, f.liquidity) for f in fills] == [(D("100"), D("0.7"), "maker")]
    assert venue.get_order("alice", client_order_id="l").status is OrderStatus.PARTIALLY_FILLED


def test_fok_expires_when_depth_is_short_and_ioc_keeps_what_it_got(venue):
    venue.on_book("BTC-USDT", {"bids": [("99", "1")], "asks": [("101", "0.4")], "ts_ms": 1000})
    fok = venue.place_order("alice", limit("f", BUY, "1", "101", tif=TimeInForce.FOK))
    assert fok.status is OrderStatus.EXPIRED and fok.filled_qty == 0
    ioc = venue.place_order("alice", limit("i", BUY, "1", "101", tif=TimeInForce.IOC))
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_qty == D("0.4")
    assert venue.balances("alice")["USDT"].locked == 0


def test_latency_delays_arrival_and_cancels(clock):
    venue = SimulatedExchange("sim", [btc()], clock=clock, latency_model=FixedLatency(500))
    venue.deposit("alice", "USDT", "10000")
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    venue.place_order("alice", limit("l", BUY, "1", "99"))  # arrives at 1500
    assert venue.on_candle("BTC-USDT", bar(1000, 100, 100, 90, 95)) == []
    assert len(venue.on_candle("BTC-USDT", bar(2000, 100, 100, 90, 95))) == 1
    venue.place_order("alice", limit("l2", BUY, "1", "99"))
    clock.set(2500)
    venue.cancel_order("alice", client_order_id="l2")  # takes effect at 3000
    assert len(venue.on_candle("BTC-USDT", bar(2600, 100, 100, 90, 95))) == 1


def test_fixed_bps_slippage_moves_taker_price_against_the_taker(clock):
    venue = SimulatedExchange("sim", [btc()], clock=clock, slippage_model=FixedBpsSlippage(10))
    venue.deposit("alice", "USDT", "10000")
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    venue.place_order("alice", market("m", BUY, "1"))
    fills = venue.on_candle("BTC-USDT", bar(1000, 200, 200, 200, 200))
    assert fills[0].price == D("200.2")


def test_same_seed_gives_the_same_run():
    def run(seed):
        clock = SimulatedClock(0)
        venue = SimulatedExchange(
            "sim", [btc()], clock=clock, seed=seed, latency_model=UniformLatency(0, 2000)
        )
        venue.deposit("a", "USDT", "100000")
        venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
        for i in range(20):
            clock.set(i * 1000)
            venue.place_order("a", limit(f"o{i}", BUY, "1", str(95 + i % 5)))
            venue.on_candle("BTC-USDT", bar(i * 1000, 100, 101, 94 + i % 7, 100))
        return [(f.order_id, f.ts, f.price) for f in venue.fills("a")]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_market_buy_that_overdraws_at_the_fill_price_is_sized_to_fit_loudly(clock):
    venue = SimulatedExchange("sim", [btc(maker="0", taker="0")], clock=clock)
    venue.deposit("alice", "USDT", "1000")
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    order = venue.place_order("alice", market("m", BUY, "10"))  # exactly all cash at 100
    assert order.status is OrderStatus.NEW
    venue.on_candle("BTC-USDT", bar(1000, 101, 101, 101, 101))  # gaps up
    order = venue.get_order("alice", client_order_id="m")
    assert order.status is OrderStatus.CANCELLED
    assert "sized to fit" in order.reason
    assert order.filled_qty == D("9.900")
    usdt = venue.balances("alice")["USDT"]
    assert usdt.free >= 0 and usdt.locked == 0
    assert usdt.free == D("1000") - D("9.9") * D("101")


def test_all_in_quote_market_buy_spends_cash_including_fees(venue):
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    venue.place_order("alice", market("q", BUY, quote_qty=D("1000")))
    (fill,) = venue.on_candle("BTC-USDT", bar(1000, 123.45, 124, 120, 121))
    assert fill.qty == D("8.084")  # floor(1000 / (123.45 * 1.002)) = floor(8.0843..) to the lot
    assert fill.price * fill.qty + fill.fee <= D("1000")
    usdt = venue.balances("alice")["USDT"]
    assert usdt.free == D("10000") - fill.price * fill.qty - fill.fee and usdt.locked == 0


def test_accounts_are_isolated(venue):
    venue.deposit("bob", "USDT", "50")
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    venue.place_order("alice", limit("same", BUY, "1", "99"))
    bob = venue.place_order("bob", limit("same", BUY, "1", "99"))
    assert bob.status is OrderStatus.REJECTED and "insufficient" in bob.reason
    assert venue.open_orders("bob") == []
    with pytest.raises(OrderNotFound):
        venue.cancel_order("bob", client_order_id="same")
    assert len(venue.open_orders("alice")) == 1


def test_two_venues_trade_independently_on_one_clock(clock):
    a = SimulatedExchange("a", [btc()], clock=clock)
    b = SimulatedExchange("b", [btc()], clock=clock)
    a.deposit("u", "USDT", "1000")
    b.deposit("u", "BTC", "1")
    a.on_book("BTC-USDT", {"bids": [("99", "5")], "asks": [("100", "5")], "ts_ms": 1})
    b.on_book("BTC-USDT", {"bids": [("103", "5")], "asks": [("104", "5")], "ts_ms": 1})
    a.place_order("u", market("buy", BUY, "1"))
    b.place_order("u", market("sell", SELL, "1"))
    assert a.fills("u")[0].price == D("100") and b.fills("u")[0].price == D("103")
    assert a.fills("u")[0].venue == "a" and b.fills("u")[0].venue == "b"


def test_instrument_rounding_directions():
    inst = Instrument("X", "X", "Y", D("0.5"), D("0.01"))
    assert inst.round_price(D("10.3"), Side.BUY) == D("10.0")
    assert inst.round_price(D("10.3"), Side.SELL) == D("10.5")
    assert inst.round_price(D("10.3")) == D("10.5")
    assert inst.round_qty(D("1.239")) == D("1.23")


def test_book_walk_slippage_charges_candle_takers_the_depth_premium(clock):
    from tradecore.exchange import BookWalkSlippage

    venue = SimulatedExchange("sim", [btc()], clock=clock, slippage_model=BookWalkSlippage())
    venue.deposit("alice", "USDT", "10000")
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    venue.place_order("alice", market("m", BUY, "2"))
    # a thin book is known: 1 at the touch, then 1 at +2 -> walking 2 costs +1 on average
    venue._books["BTC-USDT"] = OrderBook(
        "BTC-USDT", bids=[("99", "5")], asks=[("100", "1"), ("102", "1")]
    )
    fills = venue.on_candle("BTC-USDT", bar(1000, 100, 100, 100, 100))
    assert [(f.price, f.qty) for f in fills] == [(D("101"), D("2"))]


def test_post_only_is_rejected_when_it_arrives_crossing_a_candle(clock):
    venue = SimulatedExchange("sim", [btc()], clock=clock, latency_model=FixedLatency(10))
    venue.deposit("alice", "USDT", "10000")
    venue.on_candle("BTC-USDT", bar(0, 100, 100, 100, 100))
    venue.place_order("alice", limit("p", BUY, "1", "99", post_only=True))
    venue.on_candle("BTC-USDT", bar(2000, 98, 99, 97, 98))  # market fell through it meanwhile
    order = venue.get_order("alice", client_order_id="p")
    assert order.status is OrderStatus.REJECTED and "post-only" in order.reason
    assert venue.balances("alice")["USDT"].locked == 0
