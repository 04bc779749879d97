"""Binance spot's names for order types and statuses, shared by the REST API and the streams."""

from __future__ import annotations

from tradecore.domain import OrderStatus, OrderType

# Binance spot order types the sandbox matches (STOP_LOSS: a market order once the touch reaches
# the stop price; STOP_LOSS_LIMIT: a limit order then). TAKE_PROFIT* are not offered.
ORDER_TYPES = {
    "LIMIT": OrderType.LIMIT,
    "LIMIT_MAKER": OrderType.LIMIT,
    "MARKET": OrderType.MARKET,
    "STOP_LOSS": OrderType.STOP,
    "STOP_LOSS_LIMIT": OrderType.STOP_LIMIT,
}
TYPE_NAMES = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
}
STATUS = {
    OrderStatus.NEW: "NEW",
    OrderStatus.OPEN: "NEW",
    OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELLED: "CANCELED",
    OrderStatus.REJECTED: "REJECTED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.UNKNOWN: "NEW",
}


def type_name(order) -> str:
    return "LIMIT_MAKER" if order.post_only else TYPE_NAMES[order.type]
