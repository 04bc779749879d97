import csv
import gzip
from decimal import Decimal as D

import pytest

from tradecore.domain import Fill, Position, Side
from tradecore.orderbook import OrderBook


@pytest.fixture
def book():
    return OrderBook(
        "BTC-USDT",
        bids=[("99", "1"), ("98", "2"), ("97", "5")],
        asks=[("101", "0.5"), ("102", "1.5"), ("105", "10")],
        ts_ms=1,
    )


def test_top_of_book_mid_spread_and_microprice(book):
    assert book.best_bid() == (D("99"), D("1"))
    assert book.best_ask() == (D("101"), D("0.5"))
    assert book.mid() == D("100")
    assert book.spread() == D("2")
    # (99 * 0.5 + 101 * 1) / 1.5: leans towards the thinner ask
    assert book.microprice() == (D("99") * D("0.5") + D("101") * D("1")) / D("1.5")


def test_depth_is_ordered_from_the_touch(book):
    assert book.depth(Side.BUY, 2) == [(D("99"), D("1")), (D("98"), D("2"))]
    assert [p for p, _ in book.depth(Side.SELL)] == [D("101"), D("102"), D("105")]


def test_deltas_update_insert_and_remove_levels(book):
    book.apply_delta(Side.BUY, "99.5", "3")
    book.apply_delta(Side.SELL, "101", "0")
    book.apply_delta(Side.BUY, "97", "4")
    assert book.best_bid() == (D("99.5"), D("3"))
    assert book.best_ask() == (D("102"), D("1.5"))
    assert book.size_at(Side.BUY, D("97")) == D("4")
    book.apply_delta(Side.SELL, "150", "0")  # removing an absent level is harmless
    assert len(book.depth(Side.SELL)) == 2


def test_average_fill_price_walks_the_book(book):
    assert book.average_fill_price(Side.BUY, "0.5") == D("101")
    expected = (D("101") * D("0.5") + D("102") * D("1.5") + D("105") * D("1")) / D("3")
    assert book.average_fill_price(Side.BUY, "3") == expected
    assert book.average_fill_price(Side.SELL, "2") == (D("99") + D("98")) / 2
    assert book.average_fill_price(Side.BUY, "100") is None  # not enough depth
    assert book.walk(Side.BUY, D("3"), limit_price=D("102")) == [
        (D("101"), D("0.5")),
        (D("102"), D("1.5")),
    ]


def test_snapshot_replaces_everything(book):
    book.apply_snapshot([("50", "1")], [("60", "1")], ts_ms=9)
    assert (book.best_bid()[0], book.best_ask()[0], book.ts_ms) == (D("50"), D("60"), 9)
    assert book.volume_within(Side.SELL, D("100")) == D("1")


def test_empty_sides_give_none():
    empty = OrderBook("X")
    assert empty.mid() is None and empty.microprice() is None and empty.best_bid() is None


def test_real_binance_depth_snapshot_then_deltas(data_file):
    snapshot = data_file("orderbook/binance-futures_BTC-USDT_depth-snapshot_20221101.csv.gz")
    updates = data_file("orderbook/binance-futures_BTC-USDT_depth-updates_20221101.csv.gz")
    with gzip.open(snapshot, "rt") as fh:
        rows = list(csv.DictReader(fh))
    bids = [(r["price"], r["qty"]) for r in rows if r["side"] == "b"]
    asks = [(r["price"], r["qty"]) for r in rows if r["side"] == "a"]
    book = OrderBook("BTCUSDT", bids, asks, ts_ms=int(rows[0]["timestamp"]))
    assert len(book.depth(Side.BUY)) == len(bids) == 100 and asks == []  # bid side only
    assert book.mid() is None
    levels = book.depth(Side.BUY)
    size = sum(q for _, q in levels[:3])
    average = book.average_fill_price(Side.SELL, size)  # a seller walks the bids
    assert levels[2][0] <= average <= levels[0][0]
    assert average == sum(p * q for p, q in levels[:3]) / size
    with gzip.open(updates, "rt") as fh:
        deltas = list(csv.DictReader(fh))
    for r in deltas:
        book.apply_delta(Side.BUY if r["side"] == "b" else Side.SELL, r["price"], r["qty"])
    removed = [r for r in deltas if D(r["qty"]) == 0]
    for r in removed:
        side = Side.BUY if r["side"] == "b" else Side.SELL
        assert book.size_at(side, D(r["price"])) == 0


def fill(side, price, qty, fee="0"):
    return Fill("t", "o", "c", "X", side, D(price), D(qty), D(fee), "USDT", "taker", 0)


def test_position_average_cost_and_realized_pnl():
    p = Position("X")
    p = p.apply(fill(Side.BUY, "100", "1", "0.1"))
    p = p.apply(fill(Side.BUY, "110", "1", "0.1"))
    assert (p.qty, p.avg_price) == (D("2"), D("105"))
    p = p.apply(fill(Side.SELL, "120", "1.5", "0.2"))
    assert p.realized_pnl == D("22.5") and p.qty == D("0.5") and p.avg_price == D("105")
    assert p.fees == D("0.4")
    assert p.unrealized_pnl(D("100")) == D("-2.5")
    p = p.apply(fill(Side.SELL, "90", "1"))  # flips short at the fill price
    assert (p.qty, p.avg_price) == (D("-0.5"), D("90"))
