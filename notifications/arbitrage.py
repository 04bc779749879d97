"""Cross-venue arbitrage opportunities in the collectors' latest tickers, for notifications.

An opportunity is a market whose best bid on one venue is above its best ask on another; its
size is (bid - ask) / ask in percent, before fees. Only fresh tickers count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

STALE_AFTER_MS = 10_000


@dataclass(frozen=True)
class Opportunity:
    symbol: str
    buy_on: str
    sell_on: str
    ask: Decimal
    bid: Decimal

    @property
    def spread_pct(self) -> Decimal:
        return (self.bid - self.ask) / self.ask * 100


def _quote(ticker: dict | None, now_ms: int) -> tuple[Decimal, Decimal] | None:
    if not ticker or ticker.get("bid") is None or ticker.get("ask") is None:
        return None
    if now_ms - int(ticker.get("ts") or 0) > STALE_AFTER_MS:
        return None
    bid, ask = Decimal(str(ticker["bid"])), Decimal(str(ticker["ask"]))
    return (bid, ask) if bid > 0 and ask > 0 else None


def arbitrage_opportunities(markets: dict[str, list[str]], *, now_ms: int | None = None):
    """The best cross-venue opportunity per symbol quoted on two or more venues."""
    from marketdata.selectors import market_ticker_get

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    by_symbol: dict[str, list[tuple[str, Decimal, Decimal]]] = {}
    for exchange, symbols in markets.items():
        for symbol in symbols:
            quote = _quote(market_ticker_get(exchange=exchange, symbol=symbol), now_ms)
            if quote is not None:
                by_symbol.setdefault(symbol, []).append((exchange, *quote))
    found = []
    for symbol, quotes in sorted(by_symbol.items()):
        buy_on, _, ask = min(quotes, key=lambda q: q[2])
        sell_on, bid, _ = max(quotes, key=lambda q: q[1])
        if buy_on != sell_on and bid > ask:
            found.append(Opportunity(symbol, buy_on, sell_on, ask, bid))
    return found
