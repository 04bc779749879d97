"""tradecore speed, side by side with backtesting.py, vectorbt and a plain loop (issue 4).

Strategy everywhere: the long-only SMA(10)/SMA(30) crossover of bench/tradecore_reference.py.
Data: $PEREGRINE_DATA_DIR/binance_BTC-USDT_1m.csv.gz (42,915 real bars) and a 1,000,000-bar
series built deterministically from it (copies alternately forwards and time-reversed, so the
price stays in the real range and joins without gaps). On the synthetic series every engine
runs with fees at 0: with the 0.1% fee the account is worth about 4e-11 USDT after its 20,000
round trips and the engines spend their time refusing dust orders, which measures rejection
paths rather than backtesting. Peak memory of the 1,000,000-bar runs
is measured in fresh processes (VmHWM, interpreter and imports included).

Run: python bench/tradecore_bench.py [--quick]   (--quick skips the 1,000,000-bar peers)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import tradecore_reference as reference  # noqa: E402

from tradecore.backtest import CandleArrays, load_candles, run_candles, run_vectorized  # noqa: E402
from tradecore.backtest.vectorized import sweep  # noqa: E402
from tradecore.domain import Instrument  # noqa: E402
from tradecore.strategies.signals import SmaCrossConfig, SmaCrossStrategy  # noqa: E402

DATA = Path(os.environ.get("PEREGRINE_DATA_DIR", ROOT.parent / "shared" / "data"))
FILE = DATA / "binance_BTC-USDT_1m.csv.gz"
BIG = 1_000_000
SWEEP_BARS = 100_000
FAST_GRID = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
SLOW_GRID = [60, 70, 80, 90, 100, 110, 120, 130, 140, 150]


def instrument(fee: float) -> Instrument:
    rate = Decimal(repr(fee))
    return Instrument(
        "BTC-USDT", "BTC", "USDT", Decimal("0.01"), Decimal("1e-15"), Decimal(0), rate, rate
    )


INSTRUMENT = instrument(reference.FEE)
SYNTHETIC_FEE = 0.0


def synthetic(real: CandleArrays, n: int) -> CandleArrays:
    """n bars from copies of the real series, every other copy time-reversed."""
    fwd = real
    rev = CandleArrays(real.ts, real.close[::-1], real.high[::-1], real.low[::-1],
                       real.open[::-1], real.volume[::-1])  # fmt: skip
    parts, total, k = [], 0, 0
    while total < n:
        part = fwd if k % 2 == 0 else rev
        parts.append(part)
        total += len(part)
        k += 1
    cat = [np.concatenate([getattr(p, name) for p in parts])[:n]
           for name in ("open", "high", "low", "close", "volume")]  # fmt: skip
    ts = int(real.ts[0]) + np.arange(n, dtype=np.int64) * 60_000
    return CandleArrays(ts, *cat)


def frame(c: CandleArrays):
    import pandas as pd

    return pd.DataFrame({"timestamp_ms": c.ts, "open": c.open, "high": c.high, "low": c.low,
                         "close": c.close, "volume": c.volume})  # fmt: skip


def best_of(fn, repeat: int) -> tuple[float, object]:
    """Best CPU time of `repeat` runs (process time: steadier than wall time on a shared box)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


ENGINES = {
    "tradecore event-driven": "event",
    "tradecore vectorized": "vectorized",
    "plain Python loop": "plain",
    "backtesting.py": "backtesting",
    "vectorbt (warm)": "vectorbt",
}
PEERS = {"backtesting": "backtesting", "vectorbt": "vectorbt"}


def run_engine(kind: str, c: CandleArrays, fee: float, repeat: int) -> tuple[float, float]:
    """(CPU seconds, final equity) of one engine on `c`."""
    inst = instrument(fee)

    def strategy():
        return SmaCrossStrategy(SmaCrossConfig(fast=reference.FAST, slow=reference.SLOW))

    if kind == "event":
        seconds, result = best_of(lambda: run_candles(strategy(), c, inst), repeat)
        return seconds, result.final_equity
    if kind == "vectorized":
        seconds, result = best_of(lambda: run_vectorized(strategy(), c, inst), repeat)
        return seconds, result.final_equity
    df = frame(c)
    if kind == "plain":
        seconds, result = best_of(lambda: reference.plain_loop(df, fee), repeat)
    elif kind == "backtesting":
        seconds, result = best_of(lambda: reference.backtesting_py(df, fee), 1)
    elif kind == "vectorbt":
        reference.vectorbt(df, fee)  # JIT warm-up, not timed
        seconds, result = best_of(lambda: reference.vectorbt(df, fee), repeat)
    else:
        raise ValueError(kind)
    return seconds, result[2]


def available(kind: str) -> bool:
    return kind not in PEERS or importlib.util.find_spec(PEERS[kind]) is not None


def print_engines(title: str, bars: int, rows: dict[str, dict]) -> None:
    print(f"\n{title}: {bars:,} bars")
    print(f"  {'engine':<24}{'CPU s':>9}{'bars/s':>13}{'final equity':>18}{'peak MB':>9}")
    for name, row in rows.items():
        memory = f"{row['peak_mb']:>9.0f}" if "peak_mb" in row else ""
        print(f"  {name:<24}{row['seconds']:>9.3f}{bars / row['seconds']:>13,.0f}"
              f"{row['equity']:>18.10g}{memory}")  # fmt: skip
    pairs = (
        ("tradecore event-driven", "backtesting.py"),
        ("tradecore vectorized", "vectorbt (warm)"),
    )
    for ours, theirs in pairs:
        if ours in rows and theirs in rows:
            ratio = rows[theirs]["seconds"] / rows[ours]["seconds"]
            print(f"  {ours} vs {theirs}: {ratio:.1f}x the bars per second")


def sweeps(c: CandleArrays) -> tuple[dict[str, float], int]:
    """CPU seconds of each sweep, and how many of the 100 combinations the numpy sweep gives
    the same trade count and final equity (to 1e-9) as tradecore's."""
    grid = {"fast": FAST_GRID, "slow": SLOW_GRID}
    out = {}
    seconds, results = best_of(lambda: sweep(SmaCrossStrategy, c, INSTRUMENT, grid), 3)
    assert len(results) == 100
    out["tradecore sweep"] = seconds
    out["raw numpy sweep"], plain = best_of(lambda: numpy_sweep(c), 3)
    same = sum(
        1
        for params, result in results
        if plain[params["fast"], params["slow"]][0] == result.trade_count
        and abs(plain[params["fast"], params["slow"]][1] / result.final_equity - 1) < 1e-9
    )
    if importlib.util.find_spec("vectorbt"):
        vectorbt_sweep(c)  # JIT warm-up
        out["vectorbt sweep (warm)"], _ = best_of(lambda: vectorbt_sweep(c), 3)
    return out, same


def numpy_sweep(c: CandleArrays, fee: float = reference.FEE, cash: float = 10_000.0) -> dict:
    """The same sweep written directly in numpy: {(fast, slow): (round trips, final equity)}.

    SMAs from one cumulative sum per window; a cross is a change of the sign of fast - slow
    against the last bar where it was not zero; each signal fills at the next bar's open,
    all-in with the fee on both sides; a position still open is marked at the last close.
    """
    n = len(c)
    total = np.concatenate([[0.0], np.cumsum(c.close)])
    sma = {w: (total[w:] - total[:-w]) / w for w in {*FAST_GRID, *SLOW_GRID}}  # at bar i+w-1
    out = {}
    for f in FAST_GRID:
        for s in SLOW_GRID:
            sign = np.sign(sma[f][s - f :] - sma[s])  # bar s-1 onwards
            signed = np.flatnonzero(sign)
            turns = np.flatnonzero(sign[signed[1:]] != sign[signed[:-1]]) + 1
            bars, up = signed[turns] + s - 1, sign[signed[turns]] > 0
            keep = bars < n - 1  # a signal on the last bar has no next open
            buys, sells = bars[up & keep] + 1, bars[~up & keep] + 1
            if len(buys):
                sells = sells[sells > buys[0]]
            closed = len(sells)
            growth = c.open[sells] / c.open[buys[:closed]] * ((1 - fee) / (1 + fee))
            equity = cash * float(np.prod(growth))
            if len(buys) > closed:
                equity *= c.close[-1] / (c.open[buys[-1]] * (1 + fee))
            out[f, s] = (closed, equity)
    return out


def vectorbt_sweep(c: CandleArrays):
    import pandas as pd
    import vectorbt as vbt

    close, open_ = pd.Series(c.close), pd.Series(c.open)
    fast_w = [f for f in FAST_GRID for _ in SLOW_GRID]
    slow_w = [s for _ in FAST_GRID for s in SLOW_GRID]
    fast = vbt.MA.run(close, fast_w).ma.to_numpy()
    slow = vbt.MA.run(close, slow_w).ma.to_numpy()
    above, below = fast > slow, fast < slow
    entries = np.zeros_like(above)
    exits = np.zeros_like(above)
    entries[2:] = below[:-2] & above[1:-1]  # cross at t-1, act at t's open
    exits[2:] = above[:-2] & below[1:-1]
    pf = vbt.Portfolio.from_signals(close, entries, exits, price=open_, fees=0.001,
                                    init_cash=10_000.0, size=np.inf)  # fmt: skip
    return pf.final_value()


def child(kind: str) -> None:
    """Run one engine on the 1,000,000-bar series in this fresh process; print JSON figures."""
    big = synthetic(load_candles(FILE), BIG)
    seconds, equity = run_engine(kind, big, SYNTHETIC_FEE, 1)
    print(json.dumps({"seconds": seconds, "equity": equity, "peak_mb": peak_memory_mb()}))


def peak_memory_mb() -> float:
    """This process's peak resident memory: VmHWM (ru_maxrss can carry a forking parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_fresh_run(kind: str, repeat: int) -> dict:
    """Fastest of `repeat` fresh-process runs (and the highest peak memory seen)."""
    runs = [in_fresh_process(kind) for _ in range(repeat)]
    best = min(runs, key=lambda row: row["seconds"])
    return {**best, "peak_mb": max(row["peak_mb"] for row in runs)}


def in_fresh_process(kind: str) -> dict:
    run = subprocess.run(
        [sys.executable, __file__, "--child", kind], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="no peers on 1,000,000 bars")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not FILE.exists():
        print(f"skipped: {FILE} not found (set PEREGRINE_DATA_DIR)")
        return 0
    if args.child:
        child(args.child)
        return 0
    import warnings

    warnings.filterwarnings("ignore")
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when piped to a file
    real = load_candles(FILE)
    print(f"tradecore bench, python {sys.version.split()[0]}, numpy {np.__version__}")
    print("times are CPU seconds of the process (steady on a shared machine); best of 3 runs")
    print("(backtesting.py: 1 run); 1,000,000 bars: best of 3 runs, each in a fresh process")
    rows = {
        name: dict(
            zip(("seconds", "equity"), run_engine(kind, real, reference.FEE, 3), strict=True)
        )
        for name, kind in ENGINES.items()
        if available(kind)
    }
    print_engines("Real file binance_BTC-USDT_1m, fee 0.1%", len(real), rows)
    kinds = {n: k for n, k in ENGINES.items() if available(k)}
    if args.quick:
        kinds = {n: k for n, k in kinds.items() if k not in PEERS}
    rows = {name: best_fresh_run(kind, 3) for name, kind in kinds.items()}
    print_engines("Synthetic series, fee 0, each engine in a fresh process", BIG, rows)
    print("  (final equities of the peers differ here: the series has 12 exact SMA10/SMA30 ties,")
    print("  which each engine's float rounding breaks its own way; tradecore's two paths agree)")
    times, same = sweeps(synthetic(real, SWEEP_BARS))
    print(f"\n100-combination SMA sweep (fast x slow, 10 x 10) on {SWEEP_BARS:,} bars, fee 0.1%")
    for name, seconds in times.items():
        print(f"  {name:<24}{seconds:>9.3f} CPU s")
    ours = times["tradecore sweep"]
    if "vectorbt sweep (warm)" in times:
        print(
            f"  tradecore sweep vs vectorbt: {times['vectorbt sweep (warm)'] / ours:.1f}x as fast"
        )
    print(f"  tradecore sweep vs raw numpy: {ours / times['raw numpy sweep']:.2f}x the time "
          f"(numpy: the same trades and final equity on {same} of 100 combinations)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
