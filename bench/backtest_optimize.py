"""Backtest optimization and comparison figures (printed; no pass or fail).

- Grid search on the vectorized path (strategies.optimize): evaluations per second of an SMA
  crossover grid on the real Binance BTC/USDT 1m file (42,915 bars) and on 1,000,000 synthetic
  bars, with the equity kept per bar (what the Sharpe and drawdown objectives need), next to
  tradecore's own float sweep (final equity only) on the same grid.
- Optuna TPE: trials per second on the same data.
- Walk-forward: seconds for 5 folds of a 100-combination grid.
- Comparison: seconds for the paired stationary bootstrap of two runs and Hansen's SPA of
  eight (arch, 1,000 resamples, 2,000 periods), when Django's settings can load.

CPU seconds of this process; compare the lines of one run, not runs on different days.
`--quick` uses 200,000 synthetic bars instead of 1,000,000.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from strategies import optimize  # noqa: E402
from tradecore.backtest import CandleArrays, load_candles  # noqa: E402
from tradecore.backtest.vectorized import sweep  # noqa: E402
from tradecore.domain import Instrument  # noqa: E402
from tradecore.strategies import REGISTRY  # noqa: E402

SMA = REGISTRY["sma_cross"]
GRID = {"fast": list(range(5, 55, 5)), "slow": list(range(20, 220, 20))}  # 100 combinations


def _cpu(fn):
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def _synthetic(n: int) -> CandleArrays:
    rng = np.random.default_rng(42)
    close = 20_000 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    opens = np.concatenate([[close[0]], close[:-1]])
    return CandleArrays(np.arange(n, dtype=np.int64) * 60_000, opens,
                        np.maximum(opens, close) * 1.0005, np.minimum(opens, close) * 0.9995,
                        close, np.ones(n))  # fmt: skip


def _evaluator(candles):
    return optimize.Evaluator(SMA, candles, symbol="BTC/USDT", base_params={}, fee=0.001,
                              cash=10_000.0, interval_ms=60_000, objective="sharpe")  # fmt: skip


def bench_grid(name: str, candles: CandleArrays) -> None:
    seconds, found = _cpu(lambda: optimize.grid_search(_evaluator(candles), GRID))
    ran = len(found["evaluations"])
    inst = Instrument("BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal(0),
                      Decimal("0.001"), Decimal("0.001"))  # fmt: skip
    base, swept = _cpu(lambda: sweep(SMA, candles, inst, GRID))
    print(f"grid {name}: {ran} of 100 combinations in {seconds:.2f} s "
          f"({ran / seconds:,.0f}/s, equity per bar kept); tradecore sweep (final equity only) "
          f"{base:.2f} s ({len(swept) / base:,.0f}/s); ratio {seconds / base:.2f}x")  # fmt: skip


def bench_tpe(name: str, candles: CandleArrays, trials: int = 100) -> None:
    space = {"fast": list(range(2, 100)), "slow": list(range(10, 400, 5))}
    seconds, found = _cpu(lambda: optimize.tpe_search(_evaluator(candles), space, trials))
    print(f"tpe {name}: {trials} trials in {seconds:.2f} s ({trials / seconds:,.1f}/s), "
          f"{len(found['evaluations'])} distinct combinations")  # fmt: skip


def bench_walk_forward(name: str, candles: CandleArrays) -> None:
    seconds, result = _cpu(lambda: optimize.walk_forward(
        _evaluator(candles), GRID, folds=5, ratio=3, trials=50, gates={}))  # fmt: skip
    print(f"walk-forward {name}: 5 folds x 100 combinations in {seconds:.2f} s "
          f"(out-of-sample return {result['stitched']['total_return']:+.2%})")  # fmt: skip


def bench_compare() -> None:
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        print("compare: skipped (Django's settings need DATABASE_URL and REDIS_URL)")
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from strategies.compare import pair_test, spa_test

    rng = np.random.default_rng(3)
    returns = rng.normal(0, 0.01, (2000, 8))
    seconds, _ = _cpu(lambda: pair_test(returns[:, 0], returns[:, 1], 8766.0))
    print(f"compare: paired stationary bootstrap, 2 runs x 2,000 periods: {seconds:.2f} s")
    seconds, _ = _cpu(lambda: spa_test(returns))
    print(f"compare: Hansen's SPA, 8 runs x 2,000 periods: {seconds:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    data = Path(os.environ.get("PEREGRINE_DATA_DIR", ROOT.parent / "shared" / "data"))
    path = data / "binance_BTC-USDT_1m.csv.gz"
    if path.exists():
        real = load_candles(path)
        bench_grid(f"{len(real):,} real bars", real)
        bench_tpe(f"{len(real):,} real bars", real)
        bench_walk_forward(f"{len(real):,} real bars", real)
    else:
        print(f"real bars: skipped ({path} not found)")
    n = 200_000 if args.quick else 1_000_000
    synthetic = _synthetic(n)
    bench_grid(f"{n:,} synthetic bars", synthetic)
    bench_compare()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
