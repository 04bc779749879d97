"""FIFO trade ledger: realized PnL, open lots, positions and fees from fills. Pure Python.

Fills are applied in execution order. Per symbol the ledger keeps open lots, first in first
out; a lot is long (bought) or short (sold without a long lot to close, e.g. a market maker
selling inventory it held before its first fill, or the sell leg on one venue of a
cross-exchange trade). A fill that closes lots realizes (close - open) * qty per lot, signed by
direction. Fees are kept apart, by asset, and valued in quote at the fill's own price when
charged in the base asset; net PnL = realized + unrealized - fees. A fee charged in the base
asset also changes the position, as it does on the exchange (Binance takes a buyer's fee from the
coins received): a buy of 1 with a 0.001 fee opens 0.999, a sell of 1 with a 0.001 fee disposes of
1.001. Every amount is Decimal.

The ledger snapshots to JSON-safe data and restores from it, so it can be updated fill by fill;
a snapshot carries LEDGER_VERSION, and one made under other rules is replayed rather than resumed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

ZERO = Decimal(0)
LEDGER_VERSION = 2  # 2: a fee in the base asset moves the position


@dataclass(frozen=True)
class LedgerFill:
    """The part of a booked fill the ledger needs."""

    symbol: str
    side: str  # "buy" | "sell"
    qty: Decimal
    price: Decimal
    fee: Decimal = ZERO
    fee_asset: str = ""
    executed_at: datetime | None = None


@dataclass
class Lot:
    qty: Decimal  # > 0
    price: Decimal
    direction: int  # +1 long, -1 short


@dataclass
class SymbolBook:
    """Open lots, realized PnL and trade counts of one symbol."""

    lots: deque[Lot] = field(default_factory=deque)
    realized: Decimal = ZERO
    fills: int = 0
    closing_fills: int = 0
    winning_fills: int = 0
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    last_price: Decimal | None = None

    @property
    def position(self) -> Decimal:
        """Net quantity: positive long, negative short."""
        return sum((lot.qty * lot.direction for lot in self.lots), ZERO)

    @property
    def cost(self) -> Decimal:
        """Quote paid (long) or received (short) for the open lots, signed like the position."""
        return sum((lot.qty * lot.price * lot.direction for lot in self.lots), ZERO)

    @property
    def average_price(self) -> Decimal | None:
        position = self.position
        return None if position == 0 else self.cost / position

    def unrealized(self, mark: Decimal) -> Decimal:
        """Gain of the open lots if closed at `mark`."""
        return sum(((mark - lot.price) * lot.qty * lot.direction for lot in self.lots), ZERO)

    def apply(self, fill: LedgerFill, base_fee: Decimal = ZERO) -> Decimal:
        """Book one fill; return the PnL it realized (0 if it only opened lots).

        `base_fee` is the part of the fee charged in the base asset: the position moves by
        `direction * qty - base_fee`.
        """
        direction = 1 if fill.side == "buy" else -1
        moved = fill.qty - direction * base_fee
        remaining, realized = moved, ZERO
        while remaining > 0 and self.lots and self.lots[0].direction == -direction:
            lot = self.lots[0]
            closed = min(lot.qty, remaining)
            realized += (fill.price - lot.price) * closed * lot.direction
            lot.qty -= closed
            remaining -= closed
            if lot.qty == 0:
                self.lots.popleft()
        if remaining > 0:
            self.lots.append(Lot(remaining, fill.price, direction))
        self.fills += 1
        if remaining < moved:
            self.closing_fills += 1
            self.winning_fills += realized > 0
        self.realized += realized
        if direction > 0:
            self.bought += fill.qty
        else:
            self.sold += fill.qty
        self.last_price = fill.price
        return realized


def split_symbol(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote.split(":")[0]


class FifoLedger:
    """All symbols of one book (a bot, or a user's account)."""

    def __init__(self) -> None:
        self.books: dict[str, SymbolBook] = {}
        self.fees: dict[str, Decimal] = {}
        self.fees_in_quote: dict[str, Decimal] = {}  # per quote asset, for fees it could value

    def apply(self, fill: LedgerFill) -> Decimal:
        book = self.books.setdefault(fill.symbol, SymbolBook())
        base, quote = split_symbol(fill.symbol)
        asset = fill.fee_asset or quote
        realized = book.apply(fill, fill.fee if fill.fee and asset == base else ZERO)
        if fill.fee:
            self.fees[asset] = self.fees.get(asset, ZERO) + fill.fee
            if asset == quote:
                self.fees_in_quote[quote] = self.fees_in_quote.get(quote, ZERO) + fill.fee
            elif asset == base:
                value = fill.fee * fill.price
                self.fees_in_quote[quote] = self.fees_in_quote.get(quote, ZERO) + value
        return realized

    def apply_all(self, fills) -> FifoLedger:
        for fill in fills:
            self.apply(fill)
        return self

    # -- totals ------------------------------------------------------------------------------
    @property
    def realized(self) -> Decimal:
        return sum((book.realized for book in self.books.values()), ZERO)

    @property
    def fills(self) -> int:
        return sum(book.fills for book in self.books.values())

    @property
    def closing_fills(self) -> int:
        return sum(book.closing_fills for book in self.books.values())

    @property
    def winning_fills(self) -> int:
        return sum(book.winning_fills for book in self.books.values())

    def unrealized(self, marks: dict[str, Decimal]) -> Decimal:
        """Unrealized PnL at `marks` (symbol -> price); no mark: the last fill price."""
        total = ZERO
        for symbol, book in self.books.items():
            mark = marks.get(symbol, book.last_price)
            if mark is not None:
                total += book.unrealized(mark)
        return total

    @property
    def fees_quote_total(self) -> Decimal:
        return sum(self.fees_in_quote.values(), ZERO)

    # -- checkpoint --------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """JSON-safe state; Decimals as strings."""
        return {
            "version": LEDGER_VERSION,
            "books": {
                symbol: {
                    "lots": [[str(lot.qty), str(lot.price), lot.direction] for lot in book.lots],
                    "realized": str(book.realized),
                    "fills": book.fills,
                    "closing_fills": book.closing_fills,
                    "winning_fills": book.winning_fills,
                    "bought": str(book.bought),
                    "sold": str(book.sold),
                    "last_price": None if book.last_price is None else str(book.last_price),
                }
                for symbol, book in self.books.items()
            },
            "fees": {asset: str(amount) for asset, amount in self.fees.items()},
            "fees_in_quote": {asset: str(amount) for asset, amount in self.fees_in_quote.items()},
        }

    @classmethod
    def restore(cls, state: dict | None) -> FifoLedger:
        ledger = cls()
        if not state:
            return ledger
        for symbol, data in state.get("books", {}).items():
            ledger.books[symbol] = SymbolBook(
                lots=deque(Lot(Decimal(q), Decimal(p), int(d)) for q, p, d in data["lots"]),
                realized=Decimal(data["realized"]),
                fills=data["fills"],
                closing_fills=data["closing_fills"],
                winning_fills=data["winning_fills"],
                bought=Decimal(data["bought"]),
                sold=Decimal(data["sold"]),
                last_price=None if data["last_price"] is None else Decimal(data["last_price"]),
            )
        ledger.fees = {asset: Decimal(v) for asset, v in state.get("fees", {}).items()}
        ledger.fees_in_quote = {
            asset: Decimal(v) for asset, v in state.get("fees_in_quote", {}).items()
        }
        return ledger
