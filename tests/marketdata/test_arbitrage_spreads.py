"""Arbitrage edges from books and fees, checked against figures worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from marketdata.spreads import BookContext, spatial_edge, triangles, triangular_edges
from tradecore.domain import Instrument
from tradecore.orderbook import OrderBook


def inst(symbol, fee, lot="0.001", tick="0.01"):
    base, quote = symbol.split("/")
    return Instrument(symbol, base, quote, D(tick), D(lot), maker_fee=D(fee), taker_fee=D(fee))


@pytest.fixture
def two_venues():
    books = {
        ("a", "BTC/USDT"): OrderBook("BTC/USDT", [(99, 1)], [(100, 1), (101, 1)]),
        ("b", "BTC/USDT"): OrderBook("BTC/USDT", [(102, "0.5"), ("101.5", 2)], [(103, 1)]),
    }
    instruments = {("a", "BTC/USDT"): inst("BTC/USDT", "0.001"),
                   ("b", "BTC/USDT"): inst("BTC/USDT", "0.002")}  # fmt: skip
    return BookContext(books, instruments)


def test_a_spread_is_walked_for_the_size_and_netted_of_both_taker_fees(two_venues):
    # 150 USDT at the best ask of 100 buys 1.5 BTC: 1 at 100 and 0.5 at 101 = 150.5 USDT,
    # plus 0.1% = 150.6505 paid. Sold on b: 0.5 at 102 and 1 at 101.5 = 152.5, less 0.2% =
    # 152.195 received. Net 1.5445 USDT = 102.52 bp of the cost; gross 2/150.5 = 132.89 bp.
    edge = spatial_edge(two_venues, symbol="BTC/USDT", buy_venue="a", sell_venue="b",
                        size=D(150))  # fmt: skip
    assert edge.qty == D("1.500")
    assert edge.buy_price == D("150.5") / D("1.5")
    assert edge.sell_price == D("152.5") / D("1.5")
    assert edge.cost == D("150.6505")
    assert edge.profit == pytest.approx(D("1.5445"), abs=D("1e-20"))
    assert edge.net_bp.quantize(D("0.01")) == D("102.52")
    assert edge.gross_bp.quantize(D("0.01")) == D("132.89")
    assert edge.fee_bp == D(30)
    assert edge.withdrawal is None


def test_a_known_withdrawal_fee_comes_off_the_profit(two_venues):
    # 0.0005 BTC to move back, valued at the 101.6667 sold: 0.05083 USDT off 1.5445
    edge = spatial_edge(two_venues, symbol="BTC/USDT", buy_venue="a", sell_venue="b",
                        size=D(150), withdrawal_fee=D("0.0005"))  # fmt: skip
    assert edge.withdrawal == pytest.approx(D("0.0005") * D("152.5") / D("1.5"), abs=D("1e-20"))
    assert edge.profit == pytest.approx(D("1.5445") - D("0.0508333333333"), abs=D("1e-12"))
    assert edge.net_edge == pytest.approx(edge.profit / D("150.6505"), abs=D("1e-20"))


def test_the_other_direction_loses_the_spread_and_the_fees(two_venues):
    # buy 150/103 = 1.456 on b at 103, sell on a at 99: 99*0.999 / (103*1.002) - 1
    edge = spatial_edge(two_venues, symbol="BTC/USDT", buy_venue="b", sell_venue="a", size=D(150))
    assert edge is None  # a's bids hold 1 BTC: too thin for 1.456
    edge = spatial_edge(two_venues, symbol="BTC/USDT", buy_venue="b", sell_venue="a",
                        size=D(90))  # fmt: skip
    assert edge.qty == D("0.873")
    expected = D(99) * D("0.999") / (D(103) * D("1.002")) - 1
    assert edge.net_edge == pytest.approx(expected, abs=D("1e-20"))
    assert edge.net_bp < -400


def test_a_missing_or_empty_book_prices_nothing(two_venues):
    assert spatial_edge(two_venues, symbol="BTC/USDT", buy_venue="a", sell_venue="c",
                        size=D(100)) is None  # fmt: skip
    two_venues.books[("b", "BTC/USDT")] = OrderBook("BTC/USDT", [], [(103, 1)])
    assert spatial_edge(two_venues, symbol="BTC/USDT", buy_venue="a", sell_venue="b",
                        size=D(100)) is None  # fmt: skip


def test_triangles_are_found_among_a_venues_markets():
    symbols = ["BTC/USDT", "ETH/USDT", "ETH/BTC", "SOL/USDT", "SOL/ETH", "XRP/BTC"]
    assert triangles(symbols) == [
        ("BTC/USDT", "ETH/BTC", "ETH/USDT"),
        ("ETH/USDT", "SOL/ETH", "SOL/USDT"),
    ]


def test_a_triangle_is_walked_leg_by_leg_net_of_each_fee():
    books = {
        ("v", "BTC/USDT"): OrderBook("BTC/USDT", [("99.9", 10)], [(100, 10)]),
        ("v", "ETH/BTC"): OrderBook("ETH/BTC", [("0.0499", 100)], [("0.05", 100)]),
        ("v", "ETH/USDT"): OrderBook("ETH/USDT", [("5.2", 100)], [("5.21", 100)]),
    }
    instruments = {("v", s): inst(s, "0.001", lot="0.0001") for _, s in books}
    ctx = BookContext(books, instruments, venue="v")
    forward, backward = triangular_edges(ctx, legs=("BTC/USDT", "ETH/BTC", "ETH/USDT"),
                                         size=D(100))  # fmt: skip
    # forward: 100 USDT buys 100/(100*1.001) = 0.9990 BTC (99.9999 paid, 0.0001 USDT kept);
    # 0.999 BTC buys 0.999/(0.05*1.001) = 19.9600 ETH; 19.96 ETH sell at 5.2 less 0.1% =
    # 103.688208 USDT: 3.688308 more than the first leg spent
    assert forward.market == "USDT → BTC → ETH → USDT"
    assert forward.buy_venue == forward.sell_venue == "v"
    assert forward.cost == D("99.9999") and forward.qty == D(100)
    assert forward.profit == D("3.688308")
    assert forward.net_edge == D("3.688308") / D("99.9999")
    assert forward.gross_edge == D("0.04")  # 1 BTC, 20 ETH, 104 USDT without fees
    assert forward.fee_bp == D(30)
    # backward: 100/(5.21*1.001) = 19.17468 -> 19.1746 ETH (99.999566 paid); sold for BTC at
    # 0.0499 less 0.1% = 0.955855727 BTC -> 0.9558 sold (the lot) at 99.9 less 0.1%
    assert backward.market == "USDT → ETH → BTC → USDT"
    spent = D("19.1746") * D("5.21") * D("1.001")
    assert backward.cost == spent
    assert backward.net_edge == (D("0.9558") * D("99.9") * D("0.999") - spent) / spent
    assert backward.net_bp.quantize(D("0.01")) == D("-461.07")
