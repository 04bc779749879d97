import dataclasses
from decimal import Decimal as D

import pytest

from tradecore._fastinit import fast_frozen_init
from tradecore.domain import Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from tradecore.intents import OrderIntent


@dataclasses.dataclass(frozen=True, slots=True)
class Plain:
    a: int
    b: str = "x"
    c: tuple = ()


@fast_frozen_init
@dataclasses.dataclass(frozen=True, slots=True)
class Fast:
    a: int
    b: str = "x"
    c: tuple = ()


def test_fast_init_builds_the_same_frozen_values():
    assert dataclasses.astuple(Fast(1)) == dataclasses.astuple(Plain(1)) == (1, "x", ())
    assert Fast(1, c=(2,)) == Fast(a=1, b="x", c=(2,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        Fast(1).a = 2
    with pytest.raises(TypeError):
        Fast()  # a is required
    assert dataclasses.replace(Fast(1), b="y") == Fast(1, "y")


def test_domain_events_keep_their_dataclass_behaviour():
    order = Order("o", "c", "acct", "BTC-USDT", Side.BUY, OrderType.LIMIT, D(1), D(100), None,
                  TimeInForce.GTC, False, OrderStatus.OPEN)  # fmt: skip
    assert order.filled_qty == 0 and order.avg_price is None and order.venue == ""
    assert dataclasses.asdict(order)["status"] is OrderStatus.OPEN
    fill = Fill("t", "o", "c", "BTC-USDT", Side.SELL, D(1), D(2), D(0), "USDT", "maker", 5)
    assert fill.account_id == "default" and fill.order_status is None and fill.notional == 2
    intent = OrderIntent("BTC-USDT", Side.BUY, OrderType.MARKET, quote_qty=D(10))
    assert intent.qty == 0 and intent.tif is TimeInForce.GTC


def test_unsupported_classes_are_refused():
    with pytest.raises(TypeError):

        @fast_frozen_init
        @dataclasses.dataclass(frozen=True, slots=True)
        class WithFactory:
            items: list = dataclasses.field(default_factory=list)


def test_instances_keep_their_class_and_subclasses_still_build():
    assert type(Fast(1)) is Fast and type(Fast(1, c=(2,))) is Fast

    class Sub(Fast):  # inherits the fast __init__ with a layout of its own
        __slots__ = ("extra",)

    sub = Sub(1, "y")
    assert type(sub) is Sub and (sub.a, sub.b, sub.c) == (1, "y", ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        sub.a = 2
