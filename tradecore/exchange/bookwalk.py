"""Book-walk fills: a market order takes the levels of the book it meets, no more.

`BookWalkExchange` is the simulated exchange with one rule changed, for backtests that have
order-book data: a market order that reaches the venue (after its latency) walks the levels of
the book in force at that moment, one fill per level consumed at that level's price, so its
average price is the VWAP of the levels it took. What the book cannot cover is not filled
later at some other price: the order ends EXPIRED with a reason naming what it got
("book too thin: filled 2 of 3"). A market buy by quote amount (spend this much, fees
included) walks the levels until the budget is spent.

Everything else (limits resting and filling as makers when the book crosses them, trades,
fees, locks) is the simulated exchange's own. Candles are not used to fill a market order on
this venue: the runner feeds it books (and trades), and an order that arrives before any book
waits for the first one.
"""

from __future__ import annotations

from decimal import Decimal

from tradecore.domain import ZERO, Fill, Instrument, OrderStatus, OrderType, Side
from tradecore.exchange.simulated import SimulatedExchange, _Live
from tradecore.orderbook import OrderBook


def walk_levels(
    book: OrderBook,
    side: Side,
    instrument: Instrument,
    *,
    qty: Decimal | None = None,
    quote: Decimal | None = None,
) -> list[tuple[Decimal, Decimal]]:
    """The (price, qty) a taker gets from `book` for `qty` base, or for `quote` to spend
    (taker fee included): each level's size at most, quantities on the lot. Either may be
    short of what was asked when the book is thin."""
    if (qty is None) == (quote is None):
        raise ValueError("give qty or quote")
    rate = instrument.taker_fee
    levels: list[tuple[Decimal, Decimal]] = []
    for price, size in book.depth(side.opposite):
        if qty is not None:
            take = instrument.round_qty(min(size, qty - sum((q for _, q in levels), ZERO)))
        elif quote is not None:
            spent = sum((p * q * (1 + rate) for p, q in levels), ZERO)
            take = instrument.round_qty(min(size, (quote - spent) / (price * (1 + rate))))
        if take <= 0:
            break
        levels.append((price, take))
    return levels


def vwap(levels: list[tuple[Decimal, Decimal]]) -> Decimal | None:
    """Volume-weighted average price of the levels, exact; None for no levels."""
    filled = sum((q for _, q in levels), ZERO)
    return sum((p * q for p, q in levels), ZERO) / filled if filled else None


def _asked(book: OrderBook, o: _Live, instrument: Instrument, levels) -> Decimal:
    """The base quantity a quote budget asked for: the walked levels, and past the book's last
    level the rest of the budget at that level's price."""
    got = sum((q for _, q in levels), ZERO)
    side = book.depth(o.side.opposite)
    if not levels or len(levels) < len(side) or levels[-1][1] < side[-1][1]:
        return got  # the budget ran out before the book did
    rate = instrument.taker_fee
    spent = sum((p * q * (1 + rate) for p, q in levels), ZERO)
    return got + instrument.round_qty((o.locked - spent) / (levels[-1][0] * (1 + rate)))


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


class BookWalkExchange(SimulatedExchange):
    """The simulated exchange where market orders fill by walking the book (module doc)."""

    def _arrive_on_book(self, o: _Live, book: OrderBook, ts: int, out: list[Fill]) -> None:
        if o.type is not OrderType.MARKET or not o.triggered:
            super()._arrive_on_book(o, book, ts, out)
            return
        o.arrived = True
        if o.status is OrderStatus.NEW:
            o.status = OrderStatus.OPEN
        instrument = self.instruments[o.symbol]
        if o.quote_qty is not None:
            levels = walk_levels(book, o.side, instrument, quote=o.locked)
            # the budget is now a quantity (the lock, in quote, still pays for it): what the
            # levels give, plus, when the book ran out, what the rest would buy at its last price
            o.quote_qty, o.qty = None, _asked(book, o, instrument, levels)
            if not levels:
                self._finish(o, OrderStatus.EXPIRED, "book too thin: nothing filled", ts)
                return
        else:
            levels = walk_levels(book, o.side, instrument, qty=o.remaining)
        asked = o.qty
        for price, qty in levels:
            if o.status.is_terminal or self._take(o, price, qty, ts, out) == 0:
                break
        if not o.status.is_terminal:
            self._finish(
                o,
                OrderStatus.EXPIRED,
                f"book too thin: filled {_plain(o.filled_qty)} of {_plain(asked)}",
                ts,
            )

    def _match_trade(self, o, price, aggressor, available, ts, out):
        if o.type is not OrderType.MARKET:
            return super()._match_trade(o, price, aggressor, available, ts, out)
        book = self._books.get(o.symbol)
        if book is not None:  # else it waits for the first book
            self._arrive_on_book(o, book, ts, out)
        return available

    def on_trade(self, symbol, trade):
        """A market order that arrived since the last event walks the book in force first: a
        trade print is not a price it could have had."""
        out = self.walk_arrived(symbol, trade.ts_ms)
        return out + super().on_trade(symbol, trade) if out else super().on_trade(symbol, trade)

    def walk_arrived(self, symbol: str, ts: int) -> list[Fill]:
        """Fill the market orders that reached the venue by `ts` against the current book (the
        one in force when each arrived), stamped with their arrival time."""
        book = self._books.get(symbol)
        if book is None or not self._active[symbol]:
            return []
        out: list[Fill] = []
        for o in self._due(symbol, ts):
            if o.type is OrderType.MARKET and o.triggered and not o.arrived:
                self._arrive_on_book(o, book, max(o.arrive_ms, book.ts_ms), out)
        return out
