"""Candle files in: CSV (the shared-data layout, optionally gzip), JSON and feather.

The whole file is parsed and checked before anything is written; the first bad line rejects
the file with its line number and the reason, and nothing from it is imported. Values keep the
file's decimal text, so NUMERIC columns store exactly what the exchange published.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from marketdata.timeframes import TIMEFRAMES_MS

CSV_HEADER = ["timestamp_ms", "open", "high", "low", "close", "volume"]
_NAME = re.compile(
    r"^(?P<exchange>[a-z0-9.-]+)_(?P<base>[A-Za-z0-9]+)-(?P<quote>[A-Za-z0-9]+(?:-[A-Z]+)?)"
    r"_(?P<timeframe>\d+[mhdwM])(?:_[^.]*)?\."
)


class CandleFileError(ValueError):
    """A candle file that cannot be imported: where (line/record) and why."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}: line {line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class CandleFile:
    exchange: str
    symbol: str
    timeframe: str
    bars: list[tuple]  # (ts_ms, open, high, low, close, volume, trades|None), values as text


def names_from_filename(path: str | Path) -> tuple[str, str, str] | None:
    """(exchange, symbol, timeframe) from `<exchange>_<BASE-QUOTE>_<tf>[_<period>].<ext>`."""
    match = _NAME.match(Path(path).name)
    if not match:
        return None
    symbol = f"{match['base'].upper()}/{match['quote'].upper()}"
    return match["exchange"], symbol, match["timeframe"]


def read_candle_file(
    path: str | Path,
    *,
    exchange: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
) -> CandleFile:
    """Parse and check a whole candle file; raise CandleFileError on the first bad line."""
    path = Path(path)
    named = names_from_filename(path) or (None, None, None)
    exchange, symbol, timeframe = exchange or named[0], symbol or named[1], timeframe or named[2]
    if not (exchange and symbol and timeframe):
        raise CandleFileError(
            str(path),
            0,
            "cannot tell exchange, symbol and timeframe from the file name; pass them explicitly",
        )
    if timeframe not in TIMEFRAMES_MS:
        raise CandleFileError(str(path), 0, f"unsupported timeframe {timeframe!r}")
    suffixes = "".join(path.suffixes[-2:]).lower()
    if ".feather" in suffixes:
        rows = _feather_rows(path)
    elif ".json" in suffixes:
        rows = _json_rows(path)
    elif ".csv" in suffixes:
        rows = _csv_rows(path)
    else:
        raise CandleFileError(str(path), 0, "unknown format: expected .csv, .json or .feather")
    bars = _check(str(path), rows, TIMEFRAMES_MS[timeframe])
    return CandleFile(exchange, symbol, timeframe, bars)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _csv_rows(path: Path):
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise CandleFileError(str(path), 1, "empty file")
        header = [h.strip() for h in header]
        if header[:6] != CSV_HEADER or header[6:] not in ([], ["trade_count"]):
            raise CandleFileError(
                str(path),
                1,
                f"header must be {','.join(CSV_HEADER)}[,trade_count], got {','.join(header)}",
            )
        width = len(header)
        for line, row in enumerate(reader, start=2):
            if len(row) != width:
                raise CandleFileError(str(path), line, f"expected {width} fields, got {len(row)}")
            yield line, row


def _json_rows(path: Path):
    try:
        with _open_text(path) as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CandleFileError(str(path), getattr(exc, "lineno", 1), f"not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise CandleFileError(str(path), 1, "expected a JSON list of candles")
    for index, item in enumerate(data, start=1):
        if isinstance(item, list) and len(item) in (6, 7):
            yield index, [_text(v) for v in item]
        elif isinstance(item, dict):
            ts = item.get("timestamp_ms", item.get("timestamp", item.get("ts")))
            row = [ts, *(item.get(k) for k in CSV_HEADER[1:])]
            if any(v is None for v in row):
                raise CandleFileError(
                    str(path), index, "record lacks timestamp/open/high/low/close/volume"
                )
            yield (
                index,
                [_text(v) for v in row]
                + ([_text(item["trade_count"])] if item.get("trade_count") is not None else []),
            )
        else:
            raise CandleFileError(
                str(path), index, "record must be [ts, o, h, l, c, v] or an object"
            )


def _feather_rows(path: Path):
    import pyarrow.feather as feather

    try:
        table = feather.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise CandleFileError(str(path), 0, f"not a feather file: {exc}") from exc
    names = table.column_names
    if "timestamp_ms" in names:
        stamps = table.column("timestamp_ms").to_pylist()
    elif "date" in names:
        stamps = [
            None if d is None else int(d.timestamp() * 1000)
            for d in table.column("date").to_pylist()
        ]
    else:
        raise CandleFileError(str(path), 0, "feather file needs a timestamp_ms or date column")
    missing = [c for c in CSV_HEADER[1:] if c not in names]
    if missing:
        raise CandleFileError(str(path), 0, f"feather file lacks columns {', '.join(missing)}")
    columns = [table.column(c).to_pylist() for c in CSV_HEADER[1:]]
    for index, ts in enumerate(stamps):
        yield index + 1, [_text(ts), *(_text(col[index]) for col in columns)]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _check(path: str, rows, step: int) -> list[tuple]:
    bars = []
    previous = None
    for line, row in rows:
        try:
            ts = int(row[0])
        except ValueError:
            raise CandleFileError(path, line, f"timestamp {row[0]!r} is not an integer") from None
        values = []
        for name, text in zip(CSV_HEADER[1:], row[1:6], strict=True):
            try:
                number = float(text)
            except ValueError:
                raise CandleFileError(path, line, f"{name} {text!r} is not a number") from None
            if not math.isfinite(number):
                raise CandleFileError(path, line, f"{name} is not finite")
            values.append(number)
        o, h, low, c, v = values
        if min(o, h, low, c) <= 0:
            raise CandleFileError(path, line, "prices must be positive")
        if v < 0:
            raise CandleFileError(path, line, "volume is negative")
        if h < max(o, c, low) or low > min(o, c):
            raise CandleFileError(path, line, "high/low do not contain open and close")
        if ts % step:
            raise CandleFileError(path, line, f"timestamp {ts} is not aligned to the timeframe")
        if previous is not None and ts <= previous:
            reason = "duplicate timestamp" if ts == previous else "timestamps go backwards"
            raise CandleFileError(path, line, f"{reason} ({ts})")
        previous = ts
        trades = None
        if len(row) > 6 and row[6] != "":
            try:
                trades = int(float(row[6]))
            except ValueError:
                raise CandleFileError(
                    path, line, f"trade_count {row[6]!r} is not a number"
                ) from None
        bars.append(
            (
                ts,
                row[1].strip(),
                row[2].strip(),
                row[3].strip(),
                row[4].strip(),
                row[5].strip(),
                trades,
            )
        )
    if not bars:
        raise CandleFileError(path, 1, "no candles in the file")
    return bars
