"""What a backtest run stores: its results as plain JSON, and the fingerprint of its data.

Everything here is a pure function of the engine's result and the candles, so the same inputs
give the same JSON byte for byte: no wall clock, no run ids, floats written by `repr` (exact
round trip), Decimals as their strings, and non-finite numbers as the strings "inf", "-inf" and
"nan" (JSON and Postgres' jsonb have no such numbers).
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np

from tradecore.backtest.data import CandleArrays
from tradecore.backtest.runner import BacktestResult

MAX_POINTS = 2000  # equity points and chart bars kept: enough for a chart, small to store


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a replay and its results make millions of
    objects, none in reference cycles that must go before the run ends, and each full
    collection walks all of them (on a year of 1m bars, about 1.5 s of building the results).
    Collection resumes as it was afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def data_fingerprint(candles: CandleArrays) -> str:
    """sha256 of the bars as the engine saw them (int64 times, float64 prices and volumes)."""
    digest = hashlib.sha256()
    digest.update(np.int64(len(candles)).tobytes())
    digest.update(np.ascontiguousarray(candles.ts, dtype="<i8").tobytes())
    for column in (candles.open, candles.high, candles.low, candles.close, candles.volume):
        digest.update(np.ascontiguousarray(column, dtype="<f8").tobytes())
    return digest.hexdigest()


def _number(value):
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    return value


def sample_indices(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """At most `limit` evenly spaced indices of 0..n-1, always the first and the last."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def _buckets(n: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The first and one-past-last bar index of each of at most `limit` chart buckets."""
    size = max(1, math.ceil(n / limit))
    starts = np.arange(0, n, size)
    return starts, np.minimum(starts + size, n)


def _chart_bars(candles: CandleArrays, limit: int) -> tuple[np.ndarray, list[list]]:
    """The candles merged into at most `limit` bars (OHLC of each bucket), with bucket starts."""
    starts, stops = _buckets(len(candles), limit)
    bars = [
        [
            int(candles.ts[a]),
            float(candles.open[a]),
            float(candles.high[a:b].max()),
            float(candles.low[a:b].min()),
            float(candles.close[b - 1]),
        ]
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
    ]
    return candles.ts[starts], bars


def results_build(
    result: BacktestResult, candles: CandleArrays, *, cash: float, limit: int = MAX_POINTS
) -> dict:
    """The stored results: metrics, sampled equity against buy-and-hold, chart bars with fill
    markers, the round-trip trades and every fill."""
    idx = sample_indices(len(candles), limit)
    first_close = float(candles.close[0])
    equity = [
        [int(candles.ts[i]), float(result.equity[i]), cash * float(candles.close[i]) / first_close]
        for i in idx.tolist()
    ]
    bucket_ts, bars = _chart_bars(candles, limit)
    fills = [
        {
            "ts": int(f.ts),
            "side": f.side.value,
            "price": str(f.price),
            "qty": str(f.qty),
            "fee": str(f.fee),
            "liquidity": str(f.liquidity),
        }
        for f in result.fills
    ]
    # a marker sits on the chart bar that holds its fill (bars are merged on long runs)
    at = np.searchsorted(bucket_ts, np.asarray([f["ts"] for f in fills], dtype=np.int64), "right")
    markers = [
        {"time": int(bucket_ts[max(i - 1, 0)]), "side": f["side"], "price": f["price"]}
        for f, i in zip(fills, at.tolist(), strict=True)
    ]
    trades = [
        {
            "entry_ts": int(t.entry_ts),
            "exit_ts": int(t.exit_ts),
            "entry_price": str(t.entry_price),
            "exit_price": str(t.exit_price),
            "qty": str(t.qty),
            "fees": str(t.fees),
            "pnl": str(t.pnl),
            "return": _number(t.return_fraction),
        }
        for t in result.trades
    ]
    return {
        "metrics": {name: _number(value) for name, value in result.metrics.items()},
        "bars": len(candles),
        "equity": {"columns": ["ts", "equity", "buy_and_hold"], "points": equity},
        "chart": {"columns": ["ts", "open", "high", "low", "close"], "bars": bars},
        "markers": markers,
        "trades": trades,
        "fills": fills,
    }


def chart_indicators(
    strategy: str, params: dict, candles: CandleArrays, *, limit: int = MAX_POINTS
) -> dict:
    """The strategy's indicator lines (strategies.indicators, the bot page's own) over every
    bar, one point per chart bar: the value at the bucket's last bar, at the bucket's time (as
    its close). {name: {"pane": 0 | 1, "points": [[ts_ms, value], ...], "levels"?: [...]}};
    warm-up bars (no value yet) are left out; {} for a strategy without indicators."""
    from strategies.indicators import indicator_config, indicator_series

    series = indicator_series(strategy, indicator_config(strategy, params), candles.close)
    starts, stops = _buckets(len(candles), limit)
    times = candles.ts[starts].tolist()
    out = {}
    for name, line in series.items():
        values = line["values"][stops - 1].tolist()
        points = [[t, v] for t, v in zip(times, values, strict=True) if math.isfinite(v)]
        out[name] = {"pane": line["pane"], "points": points}
        if "levels" in line:
            out[name]["levels"] = line["levels"]
    return out


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trades_csv(results: dict) -> str:
    """The round-trip trades as CSV: entry and exit times, prices, quantity, fees and PnL."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["entry_time", "exit_time", "entry_price", "exit_price", "qty", "fees", "pnl",
                     "return"])  # fmt: skip
    for t in results.get("trades", []):
        writer.writerow([_iso(t["entry_ts"]), _iso(t["exit_ts"]), t["entry_price"],
                         t["exit_price"], t["qty"], t["fees"], t["pnl"], t["return"]])  # fmt: skip
    return out.getvalue()


def equity_csv(results: dict) -> str:
    """The sampled equity curve as CSV, with buy-and-hold of the starting cash beside it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", "equity", "buy_and_hold"])
    for ts, equity, hold in results.get("equity", {}).get("points", []):
        writer.writerow([_iso(ts), repr(equity), repr(hold)])
    return out.getvalue()
