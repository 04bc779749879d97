"""Trades aggregated into 1m candles per second, in one process (target >= 200,000/s).

Data: the real Binance BTC/USDT trades in $PEREGRINE_DATA_DIR/ticks (2,001 trades, ~46 s),
tiled forward in time to 2,000,000 trades (prices and sizes real, times shifted), plus the
same count from a seeded random walk when the data folder is absent. Measured: the streaming
CandleBuilder a collector uses (pure Python) and the vectorized numpy form used for files.

Run: python bench/marketdata_aggregation.py
"""

from __future__ import annotations

import csv
import gzip
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marketdata.aggregation import CandleBuilder, trades_to_candles  # noqa: E402

N = 2_000_000


def load_trades():
    data = Path(os.environ.get("PEREGRINE_DATA_DIR", ROOT.parent / "shared" / "data"))
    path = data / "ticks" / "binance_BTC-USDT_trades_20210108.csv.gz"
    if path.is_file():
        with gzip.open(path, "rt") as handle:
            rows = list(csv.DictReader(handle))
        ts = np.array([int(r["timestamp_ms"]) for r in rows], dtype=np.int64)
        price = np.array([float(r["price"]) for r in rows])
        qty = np.array([float(r["quantity"]) for r in rows])
        span = int(ts[-1] - ts[0]) + 1
        reps = N // len(ts) + 1
        ts = np.concatenate([ts + i * span for i in range(reps)])[:N]
        return (
            "real Binance BTC/USDT trades, tiled",
            ts,
            np.tile(price, reps)[:N],
            np.tile(qty, reps)[:N],
        )
    rng = np.random.default_rng(7)
    ts = np.cumsum(rng.integers(0, 40, N)) + 1_600_000_000_000
    price = 30_000 * np.exp(np.cumsum(rng.standard_normal(N) * 1e-4))
    return "synthetic random walk", ts, price, rng.exponential(0.05, N)


def main() -> None:
    source, ts, price, qty = load_trades()
    ts_list, price_list, qty_list = ts.tolist(), price.tolist(), qty.tolist()
    builder = CandleBuilder()
    start = time.perf_counter()
    bars = builder.add_many(ts_list, price_list, qty_list)
    streaming = time.perf_counter() - start
    start = time.perf_counter()
    vector = trades_to_candles(ts, price, qty)
    vectorized = time.perf_counter() - start
    assert len(vector[0]) == len(bars) + 1
    print(f"data: {source}; {N:,} trades -> {len(bars) + 1:,} 1m candles")
    print(
        f"streaming CandleBuilder (collector path): {N / streaming:,.0f} trades/s "
        f"({streaming:.2f} s)"
    )
    print(
        f"vectorized numpy (files, backfill):       {N / vectorized:,.0f} trades/s "
        f"({vectorized:.3f} s)"
    )
    print("target: >= 200,000 trades/s in one process")


if __name__ == "__main__":
    main()
