"""Timeframes and how bars align.

Convention (Binance's, and ccxt's): a bar of length T opens at a multiple of T counted from
the Unix epoch in UTC, so 5m bars open at :00, :05 ...; 4h bars at 00:00, 04:00 ... UTC; 1d
bars at 00:00 UTC. A bar's timestamp is its open time. 1m is the base; 5m, 15m, 1h, 4h and 1d
are derived from it.
"""

from __future__ import annotations

MINUTE_MS = 60_000
TIMEFRAMES_MS = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "1d": 1440 * MINUTE_MS,
}
BASE_TIMEFRAME = "1m"
DERIVED_TIMEFRAMES = ("5m", "15m", "1h", "4h", "1d")


def timeframe_ms(timeframe: str) -> int:
    try:
        return TIMEFRAMES_MS[timeframe]
    except KeyError:
        raise ValueError(
            f"unsupported timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES_MS)}"
        ) from None


def align(ts_ms: int, timeframe: str) -> int:
    """The open time of the bar containing `ts_ms`."""
    step = timeframe_ms(timeframe)
    return ts_ms - ts_ms % step
