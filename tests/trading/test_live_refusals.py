"""Orders the live venue cannot express through the gateway are refused, never sent as others.

A stop sent as a limit without a price, or a fill-or-kill sent as good-till-cancelled, would
trade differently from what the strategy asked; the venue rejects them with the reason before
any exchange call (the recorder still sees the order, so the books keep it, rejected).
"""

import asyncio
from decimal import Decimal

import pytest

from tradecore.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from tradecore.testing import instrument
from trading.runtime.venues import LiveVenue


class Seen:
    def __init__(self):
        self.calls = []

    def before_send(self, venue, request):
        self.calls.append(("before", request.client_order_id))

    def after_send(self, venue, order):
        self.calls.append(("after", order.client_order_id, order.status))

    def send_unknown(self, venue, request, reason):
        self.calls.append(("unknown", request.client_order_id))

    def order_seen(self, venue, order):
        self.calls.append(("seen", order.client_order_id))


@pytest.fixture
def venue():
    loop = asyncio.new_event_loop()
    inst = instrument()
    # no gateway: a refused order must not reach one
    yield LiveVenue("live-x", None, {inst.symbol: inst}, loop=loop, recorder=Seen(), account_id="7")
    loop.close()


@pytest.mark.parametrize(
    ("kind", "tif", "words"),
    [
        (OrderType.STOP, TimeInForce.GTC, "stop orders are not sent"),
        (OrderType.STOP_LIMIT, TimeInForce.GTC, "stop_limit orders are not sent"),
        (OrderType.LIMIT, TimeInForce.FOK, "fill-or-kill orders are not sent"),
    ],
)
def test_an_order_the_gateway_cannot_express_is_refused_with_its_reason(venue, kind, tif, words):
    request = OrderRequest(
        client_order_id="pg1-1",
        symbol="BTC-USDT",
        side=Side.SELL,
        type=kind,
        qty=Decimal("0.1"),
        price=Decimal("99") if kind is not OrderType.STOP else None,
        stop_price=Decimal("100") if kind is not OrderType.LIMIT else None,
        tif=tif,
    )
    order = venue.place_order("7", request)
    assert order.status is OrderStatus.REJECTED and words in order.reason
    assert venue.recorder.calls == [("before", "pg1-1"), ("after", "pg1-1", OrderStatus.REJECTED)]
    assert venue.open_orders() == []
