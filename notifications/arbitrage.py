"""Cross-venue arbitrage opportunities in the collectors' latest books, for notifications.

Priced exactly as the arbitrage tracker prices them (marketdata.services.arbitrage): both
books walked for the tracker's default size, net of both venues' taker fees and a known
withdrawal fee (marketdata.costs). An opportunity's size is that net edge in percent of what
the buy leg pays; only fresh books count, and a spread that does not pay its costs is none.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Opportunity:
    symbol: str
    buy_on: str
    sell_on: str
    ask: Decimal  # the walked average buy price
    bid: Decimal  # the walked average sell price
    qty: Decimal
    net_edge: Decimal  # a fraction, after fees
    fee_pct: Decimal

    @property
    def spread_pct(self) -> Decimal:
        """The net edge in percent, after fees and slippage."""
        return self.net_edge * 100


def arbitrage_opportunities(
    markets: dict[str, list[str]], *, now_ms: int | None = None, size: Decimal | None = None
) -> list[Opportunity]:
    """The better direction per symbol and venue pair whose net edge is positive."""
    from marketdata.services.arbitrage import cross_venue_edges, default_size

    edges = cross_venue_edges(markets=markets, size=size or default_size(), now_ms=now_ms)
    return [
        Opportunity(
            e.market,
            e.buy_venue,
            e.sell_venue,
            e.buy_price,
            e.sell_price,
            e.qty,
            e.net_edge,
            e.fee_bp / 100,
        )  # fmt: skip
        for e in sorted(edges, key=lambda e: (e.market, e.buy_venue, e.sell_venue))
        if e.net_edge > 0
    ]
