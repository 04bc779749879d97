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
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def engines(c: CandleArrays, repeat: int, peers: bool, fee: float) -> dict:
    """name -> (seconds, final equity)."""
    strategy = lambda: SmaCrossStrategy(SmaCrossConfig(fast=10, slow=30))  # noqa: E731
    inst = instrument(fee)
    out = {}
    seconds, result = best_of(lambda: run_candles(strategy(), c, inst), repeat)
    out["tradecore event-driven"] = (seconds, result.final_equity)
    seconds, result = best_of(lambda: run_vectorized(strategy(), c, inst), repeat)
    out["tradecore vectorized"] = (seconds, result.final_equity)
    df = frame(c)
    seconds, result = best_of(lambda: reference.plain_loop(df, fee), repeat)
    out["plain Python loop"] = (seconds, result[2])
    if peers and importlib.util.find_spec("backtesting"):
        seconds, result = best_of(lambda: reference.backtesting_py(df, fee), 1)
        out["backtesting.py"] = (seconds, result[2])
    if peers and importlib.util.find_spec("vectorbt"):
        reference.vectorbt(df, fee)  # JIT warm-up
        seconds, result = best_of(lambda: reference.vectorbt(df, fee), repeat)
        out["vectorbt (warm)"] = (seconds, result[2])
    return out


def print_engines(title: str, bars: int, rows: dict[str, tuple[float, float]]) -> None:
    print(f"\n{title}: {bars:,} bars")
    print(f"  {'engine':<26}{'seconds':>10}{'bars/s':>14}{'final equity':>18}")
    for name, (seconds, equity) in rows.items():
        print(f"  {name:<26}{seconds:>10.3f}{bars / seconds:>14,.0f}{equity:>18.10g}")
    if "backtesting.py" in rows:
        ratio = rows["backtesting.py"][0] / rows["tradecore event-driven"][0]
        print(f"  event-driven vs backtesting.py: {ratio:.1f}x the bars per second")
    if "vectorbt (warm)" in rows:
        ratio = rows["vectorbt (warm)"][0] / rows["tradecore vectorized"][0]
        print(f"  vectorized vs vectorbt (warm): {ratio:.1f}x the bars per second")


def sweeps(c: CandleArrays) -> dict[str, float]:
    grid = {"fast": FAST_GRID, "slow": SLOW_GRID}
    out = {}
    seconds, results = best_of(lambda: sweep(SmaCrossStrategy, c, INSTRUMENT, grid), 3)
    assert len(results) == 100
    out["tradecore sweep"] = seconds
    if importlib.util.find_spec("vectorbt"):
        vectorbt_sweep(c)  # JIT warm-up
        out["vectorbt sweep (warm)"], _ = best_of(lambda: vectorbt_sweep(c), 3)
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
    """Run one 1,000,000-bar backtest in this process and print its time and peak memory."""
    real = load_candles(FILE)
    big = synthetic(real, BIG)
    start = time.perf_counter()
    if kind == "event":
        strategy = SmaCrossStrategy(SmaCrossConfig())
        equity = run_candles(strategy, big, instrument(SYNTHETIC_FEE)).final_equity
    elif kind == "backtesting":
        equity = reference.backtesting_py(frame(big), SYNTHETIC_FEE)[2]
    else:
        raise SystemExit(f"unknown child {kind}")
    seconds = time.perf_counter() - start
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


def memory() -> dict[str, dict]:
    out = {}
    kinds = [("tradecore event-driven", "event")]
    if importlib.util.find_spec("backtesting"):
        kinds.append(("backtesting.py", "backtesting"))
    for name, kind in kinds:
        run = subprocess.run(
            [sys.executable, __file__, "--child", kind], capture_output=True, text=True,
            check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
        out[name] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 1,000,000-bar peers")
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
    real = load_candles(FILE)
    big = synthetic(real, BIG)
    print(f"tradecore bench, python {sys.version.split()[0]}, numpy {np.__version__}")
    rows = engines(real, 3, True, reference.FEE)
    print_engines("Real file binance_BTC-USDT_1m, fee 0.1%", len(real), rows)
    rows = engines(big, 1, not args.quick, SYNTHETIC_FEE)
    print_engines("Synthetic series, fee 0", BIG, rows)
    times = sweeps(big.slice(0, SWEEP_BARS))
    print(f"\n100-combination SMA sweep on {SWEEP_BARS:,} bars")
    for name, seconds in times.items():
        print(f"  {name:<26}{seconds:>10.3f} s")
    if "vectorbt sweep (warm)" in times:
        ratio = times["vectorbt sweep (warm)"] / times["tradecore sweep"]
        print(f"  tradecore sweep vs vectorbt: {ratio:.1f}x as fast")
    if not args.quick:
        print(f"\nPeak memory, {BIG:,}-bar run in a fresh process (VmHWM)")
        for name, row in memory().items():
            print(f"  {name:<26}{row['peak_mb']:>10.0f} MB  ({row['seconds']:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
