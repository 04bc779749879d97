"""L2 order book: snapshot + deltas, top of book, depth and book walking."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from decimal import Decimal

from tradecore.domain import ZERO, Side, to_decimal

Level = tuple[Decimal, Decimal]


class OrderBook:
    """Aggregated price levels for one symbol. Prices and sizes are Decimal.

    Levels are kept in sorted price lists so the touch is O(1) and updates are O(log n + k).
    """

    __slots__ = ("symbol", "_bids", "_asks", "_bid_prices", "_ask_prices", "ts_ms", "sequence")

    def __init__(
        self,
        symbol: str = "",
        bids: Iterable[tuple] = (),
        asks: Iterable[tuple] = (),
        ts_ms: int = 0,
    ) -> None:
        self.symbol = symbol
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._bid_prices: list[Decimal] = []  # ascending
        self._ask_prices: list[Decimal] = []  # ascending
        self.ts_ms = ts_ms
        self.sequence = 0
        self.apply_snapshot(bids, asks, ts_ms)

    # -- updates ---------------------------------------------------------------------------
    def apply_snapshot(self, bids: Iterable[tuple], asks: Iterable[tuple], ts_ms: int = 0) -> None:
        """Replace the whole book. Levels are (price, size); zero sizes are skipped."""
        self._bids = {to_decimal(p): to_decimal(q) for p, q in bids if to_decimal(q) > 0}
        self._asks = {to_decimal(p): to_decimal(q) for p, q in asks if to_decimal(q) > 0}
        self._bid_prices = sorted(self._bids)
        self._ask_prices = sorted(self._asks)
        self.ts_ms = ts_ms
        self.sequence += 1

    def apply_delta(self, side: Side, price: object, qty: object, ts_ms: int | None = None) -> None:
        """Set one level's size; a size of zero removes the level."""
        price, qty = to_decimal(price), to_decimal(qty)
        levels, prices = (
            (self._bids, self._bid_prices) if side is Side.BUY else (self._asks, self._ask_prices)
        )
        if qty <= 0:
            if levels.pop(price, None) is not None:
                del prices[bisect_left(prices, price)]
        else:
            if price not in levels:
                insort(prices, price)
            levels[price] = qty
        if ts_ms is not None:
            self.ts_ms = ts_ms
        self.sequence += 1

    def apply_deltas(self, bids: Iterable[tuple] = (), asks: Iterable[tuple] = (), ts_ms=None):
        for price, qty in bids:
            self.apply_delta(Side.BUY, price, qty)
        for price, qty in asks:
            self.apply_delta(Side.SELL, price, qty)
        if ts_ms is not None:
            self.ts_ms = ts_ms

    def copy(self) -> OrderBook:
        return OrderBook(self.symbol, self._bids.items(), self._asks.items(), self.ts_ms)

    # -- reads -----------------------------------------------------------------------------
    def best_bid(self) -> Level | None:
        if not self._bid_prices:
            return None
        price = self._bid_prices[-1]
        return price, self._bids[price]

    def best_ask(self) -> Level | None:
        if not self._ask_prices:
            return None
        price = self._ask_prices[0]
        return price, self._asks[price]

    def best(self, side: Side) -> Level | None:
        return self.best_bid() if side is Side.BUY else self.best_ask()

    def mid(self) -> Decimal | None:
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return (bid[0] + ask[0]) / 2

    def spread(self) -> Decimal | None:
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return ask[0] - bid[0]

    def microprice(self) -> Decimal | None:
        """Size-weighted mid: leans towards the side with less size (the likely next move)."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        total = bid[1] + ask[1]
        return (bid[0] * ask[1] + ask[0] * bid[1]) / total

    def is_crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid[0] >= ask[0]

    def depth(self, side: Side, levels: int | None = None) -> list[Level]:
        """Levels from the touch outwards: bids high->low for BUY, asks low->high for SELL."""
        if side is Side.BUY:
            prices = self._bid_prices[::-1] if levels is None else self._bid_prices[-levels:][::-1]
            return [(p, self._bids[p]) for p in prices]
        prices = self._ask_prices if levels is None else self._ask_prices[:levels]
        return [(p, self._asks[p]) for p in prices]

    def size_at(self, side: Side, price: Decimal) -> Decimal:
        return (self._bids if side is Side.BUY else self._asks).get(price, ZERO)

    def volume_within(self, side: Side, price_limit: Decimal) -> Decimal:
        """Resting size on `side` priced at or better than `price_limit` for a taker."""
        total = ZERO
        for price, qty in self.depth(side):
            if (side is Side.BUY and price < price_limit) or (
                side is Side.SELL and price > price_limit
            ):
                break
            total += qty
        return total

    def walk(self, side: Side, qty: Decimal, limit_price: Decimal | None = None) -> list[Level]:
        """Fills a taker on `side` would get for `qty`: BUY walks the asks, SELL the bids.

        Stops at `limit_price` if given; the result may cover less than `qty`.
        """
        qty = to_decimal(qty)
        book_side = Side.SELL if side is Side.BUY else Side.BUY
        fills: list[Level] = []
        remaining = qty
        for price, size in self.depth(book_side):
            if remaining <= 0:
                break
            if limit_price is not None and (
                (side is Side.BUY and price > limit_price)
                or (side is Side.SELL and price < limit_price)
            ):
                break
            take = min(size, remaining)
            fills.append((price, take))
            remaining -= take
        return fills

    def average_fill_price(self, side: Side, qty: object) -> Decimal | None:
        """Volume-weighted price to fill `qty` as a taker on `side`; None if depth is short."""
        qty = to_decimal(qty)
        if qty <= 0:
            raise ValueError("qty must be positive")
        fills = self.walk(side, qty)
        filled = sum((q for _, q in fills), ZERO)
        if filled < qty:
            return None
        return sum((p * q for p, q in fills), ZERO) / qty

    def __repr__(self) -> str:
        return f"OrderBook({self.symbol!r}, bid={self.best_bid()}, ask={self.best_ask()})"
