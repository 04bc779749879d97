"""Import candle files and download history with ccxt (paginated, resumable, rate-limited)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from marketdata.models import Candle
from marketdata.services.candles import (
    Gap,
    candle_copy_upsert,
    candle_derive_all,
    candle_gaps,
    candle_upsert,
    dt_to_ms,
)
from marketdata.services.importer import read_candle_file
from marketdata.timeframes import BASE_TIMEFRAME, timeframe_ms

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportReport:
    exchange: str
    symbol: str
    timeframe: str
    rows: int
    gaps: list[Gap] = field(default_factory=list)
    derived: dict[str, int] = field(default_factory=dict)


def candle_import_file(
    *,
    path: str | Path,
    exchange: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    derive: bool = True,
) -> ImportReport:
    """Import a whole candle file or nothing; derive longer bars from 1m; report gaps."""
    parsed = read_candle_file(path, exchange=exchange, symbol=symbol, timeframe=timeframe)
    rows = candle_copy_upsert(
        exchange=parsed.exchange, symbol=parsed.symbol, timeframe=parsed.timeframe, bars=parsed.bars
    )
    first, last = parsed.bars[0][0], parsed.bars[-1][0]
    step = timeframe_ms(parsed.timeframe)
    gaps = candle_gaps(
        exchange=parsed.exchange,
        symbol=parsed.symbol,
        timeframe=parsed.timeframe,
        start_ms=first,
        end_ms=last + step,
    )
    derived = {}
    if derive and parsed.timeframe == BASE_TIMEFRAME:
        derived = candle_derive_all(
            exchange=parsed.exchange, symbol=parsed.symbol, start_ms=first, end_ms=last + step
        )
    return ImportReport(parsed.exchange, parsed.symbol, parsed.timeframe, rows, gaps, derived)


@dataclass(frozen=True)
class FetchReport:
    pages: int
    candles: int
    start_ms: int
    last_ms: int | None


def _last_stored(exchange: str, symbol: str, timeframe: str) -> int | None:
    last = (
        Candle.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
        .order_by("-ts")
        .values_list("ts", flat=True)
        .first()
    )
    return dt_to_ms(last) if last else None


def ohlcv_fetch_history(
    *,
    client,
    exchange: str,
    symbol: str,
    timeframe: str,
    since_ms: int,
    until_ms: int | None = None,
    page_limit: int = 1000,
    limiter=None,
    resume: bool = True,
    now_ms: int | None = None,
) -> FetchReport:
    """Download closed bars from `since_ms` page by page, committing each page.

    Resumable: with `resume`, starts after the last bar already stored (if later than since).
    The still-forming bar is never stored. `limiter` (a RateLimiter) is drawn from per page.
    """
    step = timeframe_ms(timeframe)
    start = since_ms - since_ms % step
    if resume:
        last = _last_stored(exchange, symbol, timeframe)
        if last is not None and last + step > start and (until_ms is None or last < until_ms):
            start = last + step
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    stop = min(until_ms if until_ms is not None else now, now)
    cursor, pages, total, last_ms = start, 0, 0, None
    while cursor < stop:
        if limiter is not None:
            limiter.acquire_sync(2)
        page = client.fetch_ohlcv(symbol, timeframe, cursor, page_limit)
        pages += 1
        bars = [b for b in page if b[0] >= cursor and b[0] + step <= now and b[0] < stop]
        if not bars:
            if not page or page[-1][0] < cursor:
                break
            cursor = page[-1][0] + step
            continue
        total += candle_upsert(exchange=exchange, symbol=symbol, timeframe=timeframe, bars=bars)
        last_ms = bars[-1][0]
        cursor = last_ms + step
        logger.info(
            "fetched %s %s %s up to %s (%s bars)", exchange, symbol, timeframe, last_ms, total
        )
    return FetchReport(pages, total, start, last_ms)


def candle_backfill(
    *, client, exchange: str, symbol: str, timeframe: str, start_ms: int, end_ms: int, limiter=None
) -> list[Gap]:
    """Fill the gaps of a range from the exchange; return the gaps that remain."""
    for gap in candle_gaps(
        exchange=exchange, symbol=symbol, timeframe=timeframe, start_ms=start_ms, end_ms=end_ms
    ):
        ohlcv_fetch_history(
            client=client,
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            since_ms=gap.start_ms,
            until_ms=gap.end_ms + timeframe_ms(timeframe),
            limiter=limiter,
            resume=False,
        )
    if timeframe == BASE_TIMEFRAME:
        candle_derive_all(exchange=exchange, symbol=symbol, start_ms=start_ms, end_ms=end_ms)
    return candle_gaps(
        exchange=exchange, symbol=symbol, timeframe=timeframe, start_ms=start_ms, end_ms=end_ms
    )
