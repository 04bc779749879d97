"""Book-walk fills and latency on constructed books, where every price is known exactly."""

from decimal import Decimal as D

import numpy as np
import pytest

from tradecore.backtest.data import CandleArrays
from tradecore.backtest.feed import run_feed
from tradecore.clock import SimulatedClock
from tradecore.domain import OrderRequest, OrderStatus, OrderType, Side, Trade
from tradecore.exchange.bookwalk import BookWalkExchange, vwap, walk_levels
from tradecore.intents import OrderIntent
from tradecore.orderbook import OrderBook
from tradecore.strategies.base import NO_INTENTS, Strategy
from tradecore.testing import instrument

ASKS = [("100", "1"), ("102", "1"), ("105", "5")]
BIDS = [("99", "2"), ("98", "3")]


def venue(fee="0", cash="100000", btc="10", **options):
    clock = SimulatedClock(1_000)
    ex = BookWalkExchange("x", [instrument(maker=fee, taker=fee, min_notional="0")], clock=clock,
                          **options)  # fmt: skip
    ex.deposit("default", "USDT", cash)
    ex.deposit("default", "BTC", btc)
    ex.on_book("BTC-USDT", OrderBook("BTC-USDT", BIDS, ASKS, 1_000))
    return ex, clock


def market(side, qty=None, quote=None, cid="o1"):
    return OrderRequest(cid, "BTC-USDT", side, OrderType.MARKET, D(qty or 0),
                        quote_qty=None if quote is None else D(quote))  # fmt: skip


def test_walk_levels_take_each_level_up_to_its_size_and_average_exactly():
    book = OrderBook("BTC-USDT", BIDS, ASKS)
    levels = walk_levels(book, Side.BUY, instrument(), qty=D(2))
    assert levels == [(D(100), D(1)), (D(102), D(1))]
    assert vwap(levels) == D(101)
    assert vwap(walk_levels(book, Side.SELL, instrument(), qty=D("2.5"))) == D("98.8")


def test_a_market_buy_walks_the_asks_one_fill_per_level():
    ex, _ = venue()
    order = ex.place_order("default", market(Side.BUY, "4"))
    fills = ex.fills()
    assert [(f.price, f.qty, f.liquidity) for f in fills] == [
        (D(100), D(1), "taker"), (D(102), D(1), "taker"), (D(105), D(2), "taker"),
    ]  # fmt: skip
    assert order.status is OrderStatus.FILLED
    assert order.avg_price == D(412) / 4  # (100 + 102 + 210) / 4 = 103, the VWAP
    assert ex.balance("default", "USDT").total == D(100000) - D(412)


def test_a_book_too_thin_fills_what_it_has_and_says_so():
    ex, _ = venue(fee="0.001")
    order = ex.place_order("default", market(Side.SELL, "6"))
    assert order.status is OrderStatus.EXPIRED
    assert order.filled_qty == D(5)
    assert order.reason == "book too thin: filled 5 of 6"
    assert order.avg_price == (D(99) * 2 + D(98) * 3) / 5
    # the unfilled base is unlocked, the fee charged on what did fill
    assert ex.balance("default", "BTC").free == D(5) and ex.balance("default", "BTC").locked == 0
    assert ex.balance("default", "USDT").total == D(100000) + D(492) * (1 - D("0.001"))


def test_a_market_buy_by_quote_amount_spends_its_budget_across_levels():
    ex, _ = venue()
    order = ex.place_order("default", market(Side.BUY, quote="250"))
    # 1 at 100, then 150 / 102 = 1.470588.. -> 1 (the level's size), then 48 / 105 -> 0.457 lot
    assert [(f.price, f.qty) for f in ex.fills()] == [
        (D(100), D(1)),
        (D(102), D(1)),
        (D(105), D("0.457")),
    ]
    assert order.status is OrderStatus.FILLED
    spent = D(100) + D(102) + D(105) * D("0.457")
    assert ex.balance("default", "USDT").total == D(100000) - spent
    assert ex.balance("default", "USDT").locked == 0


def test_a_quote_budget_larger_than_the_book_fills_the_book_and_says_what_it_asked():
    ex, _ = venue()
    order = ex.place_order("default", market(Side.BUY, quote="1000"))
    # the asks cost 100 + 102 + 525 = 727; the other 273 would buy 2.6 more at 105
    assert sum(f.qty for f in ex.fills()) == D(7)
    assert order.status is OrderStatus.EXPIRED
    assert order.reason == "book too thin: filled 7 of 9.6"
    assert ex.balance("default", "USDT").total == D(100000) - D(727)
    assert ex.balance("default", "USDT").locked == 0


def test_an_order_sent_before_any_book_waits_for_the_first_book():
    clock = SimulatedClock(1_000)
    ex = BookWalkExchange("x", [instrument(maker="0", taker="0", min_notional="0")], clock=clock)
    ex.deposit("default", "USDT", "1000")
    ex.on_trade("BTC-USDT", Trade(900, 50.0, 1.0, Side.BUY, "t0"))  # a reference price only
    ex.place_order("default", market(Side.BUY, "1"))
    assert ex.fills() == []
    ex.on_trade("BTC-USDT", Trade(1_100, 50.0, 1.0, Side.BUY, "t1"))
    assert ex.fills() == [], "a trade print is not a price a book-walk order gets"
    ex.on_book("BTC-USDT", OrderBook("BTC-USDT", BIDS, ASKS, 1_200))
    assert [(f.price, f.qty, f.ts) for f in ex.fills()] == [(D(100), D(1), 1_200)]


class BuyOnce(Strategy):
    """Sends one market order at the first bar's close."""

    def __init__(self, qty="1", **kwargs):
        super().__init__(**kwargs)
        self.qty, self.sent = D(qty), False

    def on_candle(self, symbol, candle):
        if self.sent:
            return NO_INTENTS
        self.sent = True
        return (OrderIntent(self.symbol, Side.BUY, OrderType.MARKET, self.qty),)


def bars(n=3):
    ts = np.arange(n, dtype=np.int64) * 60_000
    close = np.full(n, 100.0)
    return CandleArrays(ts, close, close + 30, close, close, np.ones(n))


BOOKS = [  # the ask steps up: 100 until 60,040 ms, then 110 until 60,060, then 120
    OrderBook("BTC-USDT", [("90", "5")], [("100", "5")], 59_990),
    OrderBook("BTC-USDT", [("90", "5")], [("110", "5")], 60_040),
    OrderBook("BTC-USDT", [("90", "5")], [("120", "5")], 60_060),
]


@pytest.mark.parametrize(
    ("latency", "price", "ts"),
    [(0, D(100), 60_000), (39, D(100), 60_039), (40, D(110), 60_040), (50, D(110), 60_050),
     (70, D(120), 60_070)],
)  # fmt: skip
def test_an_order_fills_against_the_book_in_force_when_it_arrives(latency, price, ts):
    result = run_feed(
        BuyOnce(), instrument(maker="0", taker="0", min_notional="0"), bars(),
        interval_ms=60_000, books=BOOKS, book_walk=True, latency_ms=latency,
    )  # fmt: skip
    assert [(f.price, f.qty, f.ts) for f in result.fills] == [(price, D(1), ts)]
    # marked at each bar's close: the order sent at the first close is held from then on
    assert result.inventory.tolist() == [1.0 if latency == 0 else 0.0, 1.0, 1.0]


def test_latency_on_a_trades_feed_fills_at_the_first_trade_after_arrival():
    trades = [
        Trade(59_000, 100.0, 1.0, Side.SELL, "0"),
        Trade(60_010, 101.0, 1.0, Side.SELL, "a"),
        Trade(60_080, 104.0, 1.0, Side.SELL, "b"),
    ]
    for latency, price in ((0, D("101")), (10, D("101")), (11, D("104"))):
        result = run_feed(
            BuyOnce(), instrument(maker="0", taker="0", min_notional="0"), bars(),
            interval_ms=60_000, trades=trades, latency_ms=latency,
        )  # fmt: skip
        assert [f.price for f in result.fills] == [price], latency


def test_a_thin_book_in_a_feed_run_is_reported_and_the_rest_never_fills_later():
    result = run_feed(
        BuyOnce(qty="7"), instrument(maker="0", taker="0", min_notional="0"), bars(),
        interval_ms=60_000, books=BOOKS, book_walk=True,
    )  # fmt: skip
    assert [(f.price, f.qty) for f in result.fills] == [(D(100), D(5))]
    assert [o.reason for o in result.cut_short] == ["book too thin: filled 5 of 7"]


def test_book_walk_without_books_is_refused():
    with pytest.raises(ValueError, match="order-book data"):
        run_feed(BuyOnce(), instrument(), bars(), interval_ms=60_000, book_walk=True)
