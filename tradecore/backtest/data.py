"""Candle data for backtests: columnar numpy arrays, loaded and checked with clear errors."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLUMNS = ("timestamp_ms", "open", "high", "low", "close", "volume")


class DataError(ValueError):
    """The data cannot be used; the message says which file and row and why."""


@dataclass(frozen=True)
class CandleArrays:
    """Candles as columns; `ts` is each bar's open time in epoch ms, strictly increasing."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, start: int, stop: int | None = None) -> CandleArrays:
        s = slice(start, stop)
        return CandleArrays(
            self.ts[s], self.open[s], self.high[s], self.low[s], self.close[s], self.volume[s]
        )

    def interval_ms(self) -> int:
        """The typical bar length (median spacing), so gaps do not distort it."""
        if len(self.ts) < 2:
            return 60_000
        return int(np.median(np.diff(self.ts[: min(len(self.ts), 10_000)])))

    @classmethod
    def from_rows(cls, rows) -> CandleArrays:
        data = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        arrays = cls(data[:, 0].astype(np.int64), *(data[:, i].copy() for i in range(1, 6)))
        validate(arrays)
        return arrays


def validate(arrays: CandleArrays, source: str = "data") -> None:
    """Refuse empty, unsorted, non-finite or impossible OHLC data, naming the first bad row."""
    n = len(arrays.ts)
    if n == 0:
        raise DataError(f"{source}: no candles")
    if n > 1:
        bad = np.flatnonzero(np.diff(arrays.ts) <= 0)
        if bad.size:
            i = int(bad[0]) + 1
            raise DataError(
                f"{source}: timestamps not strictly increasing at row {i + 1} "
                f"({int(arrays.ts[i - 1])} then {int(arrays.ts[i])}); sort and de-duplicate"
            )
    prices = np.vstack([arrays.open, arrays.high, arrays.low, arrays.close])
    for name, check in (
        ("non-finite value", ~np.isfinite(np.vstack([prices, arrays.volume])).all(axis=0)),
        ("non-positive price", (prices <= 0).any(axis=0)),
        ("negative volume", arrays.volume < 0),
        ("high below open/close/low", arrays.high < np.maximum.reduce(prices[[0, 2, 3]])),
        ("low above open/close", arrays.low > np.minimum(arrays.open, arrays.close)),
    ):
        rows = np.flatnonzero(check)
        if rows.size:
            raise DataError(f"{source}: {name} at row {int(rows[0]) + 1}")


def load_candles(path: str | Path) -> CandleArrays:
    """Read a CSV (optionally .gz) with header timestamp_ms,open,high,low,close,volume."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text CSV") from None
    header_line, _, body = text.partition("\n")
    header = [h.strip() for h in next(csv.reader([header_line]), [])]
    if tuple(header[:6]) != COLUMNS:
        raise DataError(f"{path}: header must start with {','.join(COLUMNS)}, got {header_line!r}")
    try:
        data = np.loadtxt(io.StringIO(body), delimiter=",", usecols=range(6), ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path}: unreadable number ({exc})") from None
    if data.size == 0:
        raise DataError(f"{path}: no candles")
    arrays = CandleArrays(
        data[:, 0].astype(np.int64), *(np.ascontiguousarray(data[:, i]) for i in range(1, 6))
    )
    validate(arrays, str(path))
    return arrays
