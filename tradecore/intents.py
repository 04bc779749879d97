"""Intents: what a strategy wants. Immutable; every one passes risk before reaching a venue."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradecore._fastinit import fast_frozen_init
from tradecore.domain import OrderType, Side, TimeInForce


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class OrderIntent:
    """Place one order. The order manager assigns the client order id.

    `quote_qty` (market buys) spends that much quote, fees included, sized at the fill price.
    """

    symbol: str
    side: Side
    type: OrderType
    qty: Decimal = Decimal(0)
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    quote_qty: Decimal | None = None
    venue: str = ""
    tag: str = ""
    reduces_position: bool = False


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class CancelIntent:
    """Cancel one order by client order id."""

    client_order_id: str
    venue: str = ""


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class CancelAllIntent:
    symbol: str | None = None
    venue: str = ""


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Quote:
    """One desired resting limit order; `level` 0 is closest to the mid."""

    side: Side
    price: Decimal
    qty: Decimal
    level: int = 0


@dataclass(frozen=True, slots=True)
class QuoteIntent:
    """The full set of quotes a market maker wants resting now; the order manager reconciles."""

    symbol: str
    quotes: tuple[Quote, ...]
    venue: str = ""
    post_only: bool = True
    refresh_tolerance: Decimal | None = None  # None: the order manager's default
    max_order_age_ms: int | None = None
    hanging: frozenset[str] = frozenset()  # client order ids left resting untouched


Intent = OrderIntent | CancelIntent | CancelAllIntent | QuoteIntent
