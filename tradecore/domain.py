"""Domain objects: instruments, orders, fills, market data, balances and positions.

Money and quantities are Decimal. Market data (candles, trades) may carry floats because they
feed signal math; anything that reaches an order or a balance is converted to Decimal first
(see `to_decimal`). Events and intents are immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum
from typing import NamedTuple

from tradecore._fastinit import fast_frozen_init

ZERO = Decimal(0)
ONE = Decimal(1)


def to_decimal(value: object) -> Decimal:
    """Convert a number to Decimal exactly as it prints (floats go through their shortest repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, str)):
        return Decimal(value)
    raise TypeError(f"cannot convert {type(value).__name__} to Decimal")


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_active(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Rounding(StrEnum):
    DOWN = "down"
    UP = "up"
    NEAREST = "nearest"


# Wide contexts so rounding never fails on large amounts with fine lots (28 digits can).
_CONTEXTS = {
    Rounding.DOWN: Context(prec=80, rounding=ROUND_FLOOR),
    Rounding.UP: Context(prec=80, rounding=ROUND_CEILING),
    Rounding.NEAREST: Context(prec=80, rounding=ROUND_HALF_EVEN),
}


def round_to_step(value: Decimal, step: Decimal, rounding: Rounding) -> Decimal:
    """Round `value` to a whole multiple of `step` in the given direction."""
    ctx = _CONTEXTS[rounding]
    return ctx.multiply(ctx.to_integral_value(ctx.divide(value, step)), step)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable spot market and its precision and fee rules.

    Fees are fractions (0.001 = 0.1%) and are charged in the quote asset on both sides.
    """

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_notional: Decimal = ZERO
    maker_fee: Decimal = ZERO
    taker_fee: Decimal = ZERO
    _lot_is_power_of_ten: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size", "min_notional", "maker_fee", "taker_fee"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):
                object.__setattr__(self, name, to_decimal(value))
        if self.tick_size <= 0 or self.lot_size <= 0:
            raise ValueError(f"{self.symbol}: tick_size and lot_size must be positive")
        # 0.001, 1E-15...: rounding to such a lot is a single quantize (the common case).
        object.__setattr__(self, "_lot_is_power_of_ten", self.lot_size.as_tuple().digits == (1,))

    def round_price(
        self, price: Decimal, side: Side | None = None, rounding: Rounding | None = None
    ) -> Decimal:
        """Round a price to the tick.

        With a side, the rounding is passive: a BUY price rounds DOWN and a SELL price rounds
        UP, so a rounded quote never pays more or sells for less than asked. An explicit
        `rounding` wins over the side; with neither, the price rounds to the nearest tick.
        """
        if rounding is None:
            if side is None:
                rounding = Rounding.NEAREST
            else:
                rounding = Rounding.DOWN if side is Side.BUY else Rounding.UP
        return round_to_step(to_decimal(price), self.tick_size, rounding)

    def round_qty(self, qty: Decimal, rounding: Rounding = Rounding.DOWN) -> Decimal:
        """Round a quantity to the lot, DOWN by default so a sized order never exceeds funds."""
        if not isinstance(qty, Decimal):
            qty = to_decimal(qty)
        if self._lot_is_power_of_ten:
            return _CONTEXTS[rounding].quantize(qty, self.lot_size)
        return round_to_step(qty, self.lot_size, rounding)

    def price_on_tick(self, price: Decimal) -> bool:
        return _CONTEXTS[Rounding.NEAREST].remainder(price, self.tick_size) == 0

    def qty_on_lot(self, qty: Decimal) -> bool:
        return _CONTEXTS[Rounding.NEAREST].remainder(qty, self.lot_size) == 0

    def fee_rate(self, liquidity: str) -> Decimal:
        return self.maker_fee if liquidity == "maker" else self.taker_fee


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a caller asks a venue to do.

    `quote_qty` (market buys only) spends that much quote, fees included, and is sized to fit
    at the fill price; it replaces `qty`, which must then be zero.
    """

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    quote_qty: Decimal | None = None


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Order:
    """A venue's view of an order at one moment (an immutable snapshot)."""

    order_id: str
    client_order_id: str
    account_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    tif: TimeInForce
    post_only: bool
    status: OrderStatus
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    fee: Decimal = ZERO
    fee_asset: str = ""
    created_ms: int = 0
    updated_ms: int = 0
    reason: str = ""
    venue: str = ""

    @property
    def remaining_qty(self) -> Decimal:
        return self.qty - self.filled_qty


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of (part of) an order."""

    trade_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: str  # "maker" | "taker"
    ts: int  # epoch ms
    account_id: str = "default"
    venue: str = ""
    order_status: OrderStatus | None = None  # the order's status right after this fill

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty


class Candle(NamedTuple):
    """An OHLCV bar; `ts_ms` is the bar's open time. A NamedTuple: immutable and cheap."""

    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class Trade(NamedTuple):
    """A public trade; `side` is the aggressor's side."""

    ts_ms: int
    price: float
    qty: float
    side: Side
    trade_id: str = ""


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Position:
    """Net spot position in one instrument with average entry price and realized PnL (quote)."""

    symbol: str
    qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO

    def apply(self, fill: Fill) -> Position:
        """Return the position after `fill` (average-cost accounting, fees kept apart)."""
        signed = fill.qty if fill.side is Side.BUY else -fill.qty
        qty, avg, realized = self.qty, self.avg_price, self.realized_pnl
        if qty == 0 or (qty > 0) == (signed > 0):
            new_qty = qty + signed
            avg = (avg * abs(qty) + fill.price * fill.qty) / abs(new_qty)
            return Position(self.symbol, new_qty, avg, realized, self.fees + fill.fee)
        closing = min(abs(signed), abs(qty))
        direction = 1 if qty > 0 else -1
        realized += (fill.price - avg) * closing * direction
        new_qty = qty + signed
        if new_qty == 0:
            avg = ZERO
        elif (new_qty > 0) != (qty > 0):
            avg = fill.price
        return Position(self.symbol, new_qty, avg, realized, self.fees + fill.fee)

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return (mark - self.avg_price) * self.qty


@dataclass(frozen=True, slots=True)
class Denial:
    """A risk denial: an event with a reason, never an exception."""

    rule: str
    reason: str
    client_order_id: str = ""
    ts: int = 0
    details: dict = field(default_factory=dict, compare=False)
