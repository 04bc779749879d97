"""Candle writes: upserts (row-wise and COPY-fast), derived timeframes, gaps and backfill."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from django.db import connection, transaction

from marketdata.models import Candle
from marketdata.timeframes import BASE_TIMEFRAME, DERIVED_TIMEFRAMES, align, timeframe_ms

TABLE = Candle._meta.db_table
COLUMNS = (
    "exchange",
    "symbol",
    "timeframe",
    "ts",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "trade_count",
)
NULL = "\\N"  # COPY's text-format null
_UPDATE = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[4:])
_CONFLICT = f"ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE SET {_UPDATE}"


def ms_to_dt(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


def dt_to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _num(value) -> str:
    return (
        value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    )


def candle_upsert(*, exchange: str, symbol: str, timeframe: str, bars: Sequence) -> int:
    """Insert or update bars (ts_ms, open, high, low, close, volume[, trades]); return the count."""
    if not bars:
        return 0
    timeframe_ms(timeframe)
    rows = [
        (
            exchange,
            symbol,
            timeframe,
            ms_to_dt(b[0]),
            _num(b[1]),
            _num(b[2]),
            _num(b[3]),
            _num(b[4]),
            _num(b[5]),
            b[6] if len(b) > 6 else None,
        )
        for b in bars
    ]
    placeholders = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    # table and column names are constants; values are bound parameters
    sql = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES {placeholders} {_CONFLICT}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return len(rows)


def candle_copy_upsert(*, exchange: str, symbol: str, timeframe: str, bars: Sequence) -> int:
    """Bulk upsert through COPY, all-or-nothing in one transaction.

    Bars that overlap no stored bar are copied straight into the table; otherwise they go
    through a temporary table and one INSERT ... ON CONFLICT DO UPDATE.
    """
    timeframe_ms(timeframe)
    if any(ch in f"{exchange}{symbol}" for ch in "\t\n\\"):
        raise ValueError("exchange and symbol cannot contain tabs, newlines or backslashes")
    if not bars:
        return 0
    stamps = np.datetime_as_string(np.array([b[0] for b in bars], dtype="datetime64[ms]"), "ms")
    text = _copy_text(f"{exchange}\t{symbol}\t{timeframe}\t", stamps, bars)
    columns = ", ".join(COLUMNS)
    key = {"exchange": exchange, "symbol": symbol, "timeframe": timeframe}
    first, last = ms_to_dt(min(b[0] for b in bars)), ms_to_dt(max(b[0] for b in bars))
    with transaction.atomic(), connection.cursor() as cursor:
        overlap = Candle.objects.filter(**key, ts__gte=first, ts__lte=last).exists()
        if not overlap:
            with cursor.cursor.copy(f"COPY {TABLE} ({columns}) FROM STDIN") as copy:
                copy.write(text)
            return len(bars)
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS candle_stage "
            f"(LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE candle_stage")  # inside an outer transaction rows linger
        with cursor.cursor.copy(f"COPY candle_stage ({columns}) FROM STDIN") as copy:
            copy.write(text)
        cursor.execute(
            f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM candle_stage "  # noqa: S608
            f"ORDER BY ts {_CONFLICT}"
        )
    return len(bars)


def _copy_text(prefix: str, stamps, bars: Sequence) -> str:
    if all(isinstance(v, str) for v in bars[0][1:6]):  # file imports: the file's own text
        return "".join(
            f"{prefix}{ts}+00\t{b[1]}\t{b[2]}\t{b[3]}\t{b[4]}\t{b[5]}\t"
            f"{NULL if len(b) < 7 or b[6] is None else b[6]}\n"
            for ts, b in zip(stamps, bars, strict=True)
        )
    return "".join(
        f"{prefix}{ts}+00\t{_num(b[1])}\t{_num(b[2])}\t{_num(b[3])}\t{_num(b[4])}\t{_num(b[5])}\t"
        f"{NULL if len(b) < 7 or b[6] is None else b[6]}\n"
        for ts, b in zip(stamps, bars, strict=True)
    )


def candle_derive(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> int:
    """(Re)build `timeframe` bars from 1m bars in [start, end), aligned to the epoch (UTC)."""
    if timeframe not in DERIVED_TIMEFRAMES:
        raise ValueError(f"{timeframe!r} is not derived from 1m bars")
    step = timeframe_ms(timeframe)
    where = ["exchange = %s", "symbol = %s", "timeframe = %s"]
    params: list = [exchange, symbol, BASE_TIMEFRAME]
    if start_ms is not None:
        where.append("ts >= %s")
        params.append(ms_to_dt(align(start_ms, timeframe)))
    if end_ms is not None:
        where.append("ts < %s")
        params.append(ms_to_dt(align(end_ms - 1, timeframe) + step))
    # table and column names are constants; values are bound parameters
    sql = f"""
        INSERT INTO {TABLE} ({", ".join(COLUMNS)})
        SELECT exchange, symbol, %s, bucket,
               (array_agg(open ORDER BY ts))[1], max(high), min(low),
               (array_agg(close ORDER BY ts DESC))[1], sum(volume), sum(trade_count)
        FROM (
            SELECT *, date_bin(%s::interval, ts, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket
            FROM {TABLE} WHERE {" AND ".join(where)}
        ) base
        GROUP BY exchange, symbol, bucket
        {_CONFLICT}
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [timeframe, f"{step // 1000} seconds", *params])
        return cursor.rowcount


def candle_derive_all(
    *, exchange: str, symbol: str, start_ms: int | None = None, end_ms: int | None = None
) -> dict[str, int]:
    """Derive every longer timeframe from the 1m bars of a range."""
    return {
        tf: candle_derive(
            exchange=exchange, symbol=symbol, timeframe=tf, start_ms=start_ms, end_ms=end_ms
        )
        for tf in DERIVED_TIMEFRAMES
    }


@dataclass(frozen=True)
class Gap:
    """Missing bars: from `start_ms` (first missing bar) to `end_ms` (last missing bar)."""

    start_ms: int
    end_ms: int
    missing: int


def candle_gaps(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[Gap]:
    """Holes between stored bars (and at the range's ends when a range is given)."""
    step = timeframe_ms(timeframe)
    qs = Candle.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
    if start_ms is not None:
        qs = qs.filter(ts__gte=ms_to_dt(start_ms))
    if end_ms is not None:
        qs = qs.filter(ts__lt=ms_to_dt(end_ms))
    stamps = [dt_to_ms(t) for t in qs.order_by("ts").values_list("ts", flat=True)]
    expected_first = align(start_ms + step - 1, timeframe) if start_ms is not None else None
    expected_last = align(end_ms - 1, timeframe) if end_ms is not None else None
    if not stamps:
        if expected_first is None or expected_last is None or expected_last < expected_first:
            return []
        return [Gap(expected_first, expected_last, (expected_last - expected_first) // step + 1)]
    gaps = []
    if expected_first is not None and stamps[0] > expected_first:
        gaps.append(Gap(expected_first, stamps[0] - step, (stamps[0] - expected_first) // step))
    for before, after in zip(stamps, stamps[1:], strict=False):
        if after - before > step:
            gaps.append(Gap(before + step, after - step, (after - before) // step - 1))
    if expected_last is not None and stamps[-1] < expected_last:
        gaps.append(Gap(stamps[-1] + step, expected_last, (expected_last - stamps[-1]) // step))
    return gaps
