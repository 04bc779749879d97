"""USD prices from stored candles, for values a trade's quote cannot give (see VALUATION_RULE).

The price of an asset at a time is the close of the latest stored bar of `<ASSET>/USD` or a USD
stablecoin market (any exchange, any timeframe) that opened at or before that time and no more
than a day before it; nothing older is used: a missing price is reported, not guessed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from compliance.tax.normalize import STABLECOINS, is_cash
from marketdata.models import Candle

MAX_AGE = timedelta(days=1)


class CandlePrices:
    """A price lookup (asset, time) -> USD close or None, memoized per asset and minute."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, datetime], Decimal | None] = {}

    def __call__(self, asset: str, at: datetime) -> Decimal | None:
        asset = asset.upper()
        if is_cash(asset):
            return Decimal(1)
        minute = at.replace(second=0, microsecond=0)
        key = (asset, minute)
        if key not in self._memo:
            self._memo[key] = self._lookup(asset, at)
        return self._memo[key]

    @staticmethod
    def _lookup(asset: str, at: datetime) -> Decimal | None:
        symbols = [f"{asset}/USD"] + [f"{asset}/{stable}" for stable in sorted(STABLECOINS)]
        row = (
            Candle.objects.filter(symbol__in=symbols, ts__lte=at, ts__gte=at - MAX_AGE)
            .order_by("-ts")
            .values_list("close", flat=True)
            .first()
        )
        return row
