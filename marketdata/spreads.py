"""Arbitrage edges of live books: the arbitrage strategies' own math, run over every market.

Nothing here reads a store: books and instruments (whose taker fee is marketdata.costs'
estimate) come in, edges go out. The computation is tradecore's, not a copy of it: a spatial
edge is `SpatialArbitrageStrategy.edge` (walk the buy venue's asks and the sell venue's bids
for the size, net of both taker fees), a triangle is `TriangularArbitrageStrategy.forward` /
`backward` (each leg walked for what the previous leg yields, net of each leg's fee, rounded to
the lot). The gross edge is the same walk with the fees set to zero, so gross - net is exactly
what fees cost; the slippage of the walk is in both.

Sizes are in the home asset (USDT): a spatial size buys that much of the market's quote asset
worth of base at the buy venue's best ask (rounded down to the lot); a triangle starts with
that much of the home asset. A triangle's cost is what its first leg spends of it (the lot
leaves the rest unspent, still home asset, not a loss); its profit is the home asset back less
that cost. What a lot leaves of the middle asset is counted as spent (a few units of its lot).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from tradecore.domain import ZERO, Instrument, Side
from tradecore.orderbook import OrderBook
from tradecore.strategies.arbitrage import (
    SpatialArbitrageConfig,
    SpatialArbitrageStrategy,
    TriangularArbitrageConfig,
    TriangularArbitrageStrategy,
)

HOME = "USDT"
BP = Decimal(10_000)


class BookContext:
    """A read-only StrategyContext over books and instruments keyed by (venue, symbol).

    `venue=""` means the context's own venue (a triangle's). Nothing is held: free balances
    are unbounded, positions and open orders empty, so the strategies only price."""

    def __init__(self, books: dict, instruments: dict, *, venue: str = "", now_ms: int = 0):
        self.books, self.instruments, self.venue, self._now = books, instruments, venue, now_ms

    def now_ms(self) -> int:
        return self._now

    def instrument(self, symbol: str, venue: str = "") -> Instrument:
        return self.instruments[(venue or self.venue, symbol)]

    def book(self, symbol: str, venue: str = "") -> OrderBook | None:
        return self.books.get((venue or self.venue, symbol))

    def free(self, asset: str, venue: str = "") -> Decimal:
        return Decimal("1e30")

    def position(self, symbol: str, venue: str = "") -> Decimal:
        return ZERO

    def open_orders(self, symbol: str | None = None, venue: str = "") -> list:
        return []

    def last_price(self, symbol: str, venue: str = "") -> Decimal | None:
        book = self.book(symbol, venue)
        return book.mid() if book is not None else None

    def fee_free(self) -> BookContext:
        """The same books with every fee at zero (for the gross edge)."""
        free = {k: dataclasses.replace(i, maker_fee=ZERO, taker_fee=ZERO)
                for k, i in self.instruments.items()}  # fmt: skip
        return BookContext(self.books, free, venue=self.venue, now_ms=self._now)


@dataclasses.dataclass(frozen=True)
class Edge:
    """One priced opportunity (or a spread that is not one: net may be negative).

    Spatial: `qty` of base bought on buy_venue at the walked `buy_price` and sold on
    sell_venue at `sell_price`; `cost` is what the buy leg pays in the quote asset, fee
    included; `withdrawal` the known fee (in quote) of moving the base back, else None.
    Triangular: buy_venue == sell_venue, `qty` the start amount of the home asset, `cost` what
    the first leg spends of it, no prices (three markets have no one price).
    Edges are fractions of the cost; `profit` is net, in the quote (home) asset."""

    kind: str  # "spatial" | "triangular"
    market: str
    buy_venue: str
    sell_venue: str
    quote: str
    qty: Decimal
    buy_price: Decimal | None
    sell_price: Decimal | None
    cost: Decimal
    gross_edge: Decimal
    net_edge: Decimal
    profit: Decimal
    fees: tuple[Decimal, ...]  # each leg's taker fee fraction
    withdrawal: Decimal | None = None

    @property
    def gross_bp(self) -> Decimal:
        return self.gross_edge * BP

    @property
    def net_bp(self) -> Decimal:
        return self.net_edge * BP

    @property
    def fee_bp(self) -> Decimal:
        return sum(self.fees, ZERO) * BP


def spatial_edge(
    ctx: BookContext,
    *,
    symbol: str,
    buy_venue: str,
    sell_venue: str,
    size: Decimal,
    withdrawal_fee: Decimal | None = None,
) -> Edge | None:
    """Buy `size` (in the quote asset) of `symbol` on buy_venue, sell it on sell_venue.

    None when a book is missing, empty or too thin for the size. A known withdrawal fee (in
    the base asset, valued at the sell price) is taken off the profit: the base bought has to
    travel to the sell venue to repeat the trade."""
    buy_book, sell_book = ctx.book(symbol, buy_venue), ctx.book(symbol, sell_venue)
    best_ask = buy_book.best_ask() if buy_book is not None else None
    if best_ask is None or sell_book is None or sell_book.best_bid() is None:
        return None
    buy_inst, sell_inst = ctx.instrument(symbol, buy_venue), ctx.instrument(symbol, sell_venue)
    qty = buy_inst.round_qty(size / best_ask[0])
    if qty <= 0:
        return None
    config = SpatialArbitrageConfig(venue_a=buy_venue, venue_b=sell_venue)
    net, gross = (
        _strategy(SpatialArbitrageStrategy(config, symbol=symbol), c).edge(
            buy_venue, sell_venue, qty
        )
        for c in (ctx, ctx.fee_free())
    )
    if net is None or gross is None:
        return None
    buy_price = buy_book.average_fill_price(Side.BUY, qty)
    sell_price = sell_book.average_fill_price(Side.SELL, qty)
    cost = buy_price * qty * (1 + buy_inst.taker_fee)
    withdrawal = withdrawal_fee * sell_price if withdrawal_fee is not None else None
    profit = net * cost - (withdrawal or ZERO)
    return Edge("spatial", symbol, buy_venue, sell_venue, buy_inst.quote, qty, buy_price,
                sell_price, cost, gross, profit / cost, profit,
                (buy_inst.taker_fee, sell_inst.taker_fee), withdrawal)  # fmt: skip


def triangles(symbols: list[str], home: str = HOME) -> list[tuple[str, str, str]]:
    """Every (X/home, Y/X, Y/home) among one venue's symbols, sorted."""
    pairs = {tuple(s.split("/", 1)) for s in symbols if "/" in s}
    found = []
    for bridge, quote in sorted(pairs):
        if quote != home:
            continue
        for target, via in sorted(pairs):
            if via == bridge and (target, home) in pairs:
                found.append((f"{bridge}/{home}", f"{target}/{bridge}", f"{target}/{home}"))
    return found


def triangular_edges(ctx: BookContext, *, legs: tuple[str, str, str], size: Decimal) -> list[Edge]:
    """Both directions of one triangle on ctx's venue, starting with `size` of the home asset.

    Forward: home -> bridge -> target -> home; backward the other way. A direction whose
    books are missing or too thin for the size is left out. Net and gross edges are the profit
    over the first leg's cost, as a spatial edge's."""
    first, second, third = legs
    config = TriangularArbitrageConfig(first_symbol=first, second_symbol=second,
                                       third_symbol=third, start_amount=size)  # fmt: skip
    net_s = _strategy(TriangularArbitrageStrategy(config), ctx)
    gross_s = _strategy(TriangularArbitrageStrategy(config), ctx.fee_free())
    home, bridge, target = first.split("/")[1], first.split("/")[0], second.split("/")[0]
    paths = (
        ("forward", f"{home} → {bridge} → {target} → {home}"),
        ("backward", f"{home} → {target} → {bridge} → {home}"),
    )
    fees = tuple(ctx.instrument(s).taker_fee for s in legs)
    edges = []
    for direction, path in paths:
        net, gross = getattr(net_s, direction)(), getattr(gross_s, direction)()
        if net is None or gross is None:
            continue
        cost, profit = _cycle_profit(ctx, net, size)
        gross_cost, gross_profit = _cycle_profit(ctx.fee_free(), gross, size)
        edges.append(Edge("triangular", path, ctx.venue, ctx.venue, home, size, None, None,
                          cost, gross_profit / gross_cost, profit / cost, profit,
                          fees))  # fmt: skip
    return edges


def _cycle_profit(ctx: BookContext, plan, size: Decimal) -> tuple[Decimal, Decimal]:
    """(home asset the first leg spends, home asset back less that) of a strategy's plan
    (edge over the start amount, the three leg intents): the first leg buys on a home market."""
    edge, intents = plan
    first = intents[0]
    book, inst = ctx.book(first.symbol), ctx.instrument(first.symbol)
    cost = book.average_fill_price(Side.BUY, first.qty) * first.qty * (1 + inst.taker_fee)
    return cost, (1 + edge) * size - cost


def _strategy(strategy, ctx: BookContext):
    strategy.on_start(ctx)
    return strategy
