"""Parameter optimization of signal strategies on the vectorized path.

Each evaluation computes the strategy's vectorized signals (indicator arrays shared between
evaluations through the strategy's indicator cache) and accounts the long-only trades in floats
exactly as `tradecore.backtest.vectorized.quick_result` does (same entry and exit bars as the
exact paths, a buy of `allocation` x cash at the next open after the taker fee, a sell of the
whole position at the next open), keeping the equity per bar so the objective can be the Sharpe
ratio or a drawdown-limited return as well as the return.

- `grid_search`: every combination (the heatmap for two parameters); combinations the strategy
  refuses (fast >= slow) are reported with the reason, never dropped silently.
- `tpe_search`: Optuna's TPE sampler (seeded: the same inputs give the same trials).
- `walk_forward`: rolling folds, each an in-sample search then the best parameters run on the
  out-of-sample bars after it; the out-of-sample equity stitched fold to fold, user gates
  (minimum folds, share of profitable folds, maximum drawdown) and a warning when in-sample
  results are far better than out-of-sample (walk-forward efficiency under 50%).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from tradecore.backtest.data import CandleArrays
from tradecore.backtest.vectorized import signal_bars, signal_fills

YEAR_MS = 365.25 * 24 * 3600 * 1000
SEED = 7
MAX_GRID = 2500  # combinations a grid runs; larger spaces go to TPE
MAX_TRIALS = 2000
WFE_WARNING = 0.5  # out-of-sample return per bar under half the in-sample one: overfitting
TOP_ROWS = 50


class OptimizationCancelled(Exception):
    """The owner cancelled the search."""


@dataclass(frozen=True)
class Evaluation:
    """One parameter combination on a window of bars (float accounting)."""

    params: dict
    total_return: float
    sharpe: float
    max_drawdown: float
    trades: int
    score: float | None  # the objective; None when the drawdown limit rules it out
    equity: np.ndarray | None = None

    def row(self) -> dict:
        return {
            "params": self.params, "total_return": _finite(self.total_return),
            "sharpe": _finite(self.sharpe), "max_drawdown": _finite(self.max_drawdown),
            "trades": self.trades, "score": _finite(self.score),
        }  # fmt: skip


def _finite(value):
    if value is None or not isinstance(value, float):
        return value
    return value if math.isfinite(value) else None


def equity_curve(entries, exits, opens, closes, *, fee, cash, allocation) -> tuple[np.ndarray, int]:
    """Equity at each bar's close of the long-only state machine on these signals, and the
    number of closed round trips (float accounting; the position is marked at the close)."""
    n = len(entries)
    return equity_from_bars(np.flatnonzero(entries[: n - 1]), np.flatnonzero(exits[: n - 1]),
                            opens, closes, fee=fee, cash=cash, allocation=allocation)  # fmt: skip


def equity_from_bars(entry_bars, exit_bars, opens, closes, *, fee, cash, allocation):
    """`equity_curve` from the bars (before the last) that signal an entry and an exit."""
    buys, sells = signal_fills(entry_bars, exit_bars)
    # the cash chain is sequential (each buy spends a share of what the last sell left), so it
    # is a loop over round trips, on Python floats; the per-bar curve is numpy's
    cash_after = [0.0] * (len(buys) + len(sells))
    qty_after = [0.0] * len(cash_after)
    money, buy_factor, sell_factor = float(cash), 1 + fee, 1 - fee
    buy_px, sell_px = opens[buys].tolist(), opens[sells].tolist()
    closed = len(sell_px)
    for i, price in enumerate(buy_px):
        qty = money * allocation / (price * buy_factor)
        money -= qty * price * buy_factor
        cash_after[2 * i], qty_after[2 * i] = money, qty
        if i < closed:
            money += qty * sell_px[i] * sell_factor
            cash_after[2 * i + 1] = money
    bars = np.empty(len(cash_after), dtype=np.int64)
    bars[0::2], bars[1::2] = buys, sells
    # a fill at bar b's open: the bar's close already holds the new position
    spans = np.diff(bars, prepend=0, append=len(closes))
    cash_bar = np.repeat(np.asarray([float(cash), *cash_after]), spans)
    qty_bar = np.repeat(np.asarray([0.0, *qty_after]), spans)
    return cash_bar + qty_bar * closes, closed


def stats(equity: np.ndarray, interval_ms: int) -> tuple[float, float, float]:
    """Total return, annualized Sharpe of per-bar returns, and maximum drawdown (a fraction)."""
    total = float(equity[-1] / equity[0] - 1)
    returns = np.diff(equity) / equity[:-1]
    spread = float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0
    sharpe = float(np.mean(returns)) / spread * math.sqrt(YEAR_MS / interval_ms) if spread else 0.0
    peak = np.maximum.accumulate(equity)
    return total, sharpe, float(-(equity / peak - 1).min())


class Evaluator:
    """Evaluates parameter combinations of one strategy on one series of candles."""

    def __init__(self, strategy_cls, candles: CandleArrays, *, symbol, base_params: Mapping,
                 fee: float, cash: float, interval_ms: int, objective: str,
                 max_drawdown: float | None = None):  # fmt: skip
        self.strategy_cls, self.candles, self.symbol = strategy_cls, candles, symbol
        self.base, self.fee, self.cash = dict(base_params), fee, cash
        self.interval_ms, self.objective, self.max_drawdown = interval_ms, objective, max_drawdown
        self.cache: dict = {}
        self._signals: dict = {}

    def config(self, params: Mapping):
        """The strategy's config for these params; ValueError with the reason if refused."""
        try:
            return self.strategy_cls.config_class(**{**self.base, **params})
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    def signals(self, params: Mapping, config) -> tuple[np.ndarray, np.ndarray]:
        """The bars of the whole series whose signals enter and exit, for these params."""
        key = tuple(sorted((k, repr(v)) for k, v in params.items()))
        if key not in self._signals:
            strategy = self.strategy_cls(config, symbol=self.symbol)
            strategy.indicator_cache = self.cache
            self._signals[key] = signal_bars(strategy, self.candles, last=True)
            if len(self._signals) > 64:  # keep memory bounded on long searches
                self._signals.pop(next(iter(self._signals)))
        return self._signals[key]

    def score(self, total: float, sharpe: float, drawdown: float) -> float | None:
        if self.objective == "sharpe":
            return sharpe
        if self.objective == "return":
            return total
        return total if self.max_drawdown is None or drawdown <= self.max_drawdown else None

    def evaluate(self, params: Mapping, lo: int = 0, hi: int | None = None,
                 keep_equity: bool = False) -> Evaluation:  # fmt: skip
        """The combination on bars [lo, hi): signals from the whole series (indicators warm
        from earlier bars), trades only inside the window, starting flat with the cash."""
        config = self.config(params)
        entry_bars, exit_bars = self.signals(params, config)
        hi = len(self.candles) if hi is None else hi
        c = self.candles
        equity, trades = equity_from_bars(
            _window(entry_bars, lo, hi), _window(exit_bars, lo, hi), c.open[lo:hi],
            c.close[lo:hi], fee=self.fee, cash=self.cash, allocation=float(config.allocation),
        )  # fmt: skip
        total, sharpe, drawdown = stats(equity, self.interval_ms)
        return Evaluation(dict(params), total, sharpe, drawdown, trades,
                          self.score(total, sharpe, drawdown),
                          equity if keep_equity else None)  # fmt: skip


def _window(bars: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The signal bars of [lo, hi - 1), counted from lo (the window's last bar has no next)."""
    return bars[np.searchsorted(bars, lo) : np.searchsorted(bars, hi - 1)] - lo


def _rank_key(e: Evaluation):
    return (e.score is not None, e.score if e.score is not None else -math.inf)


def grid_combinations(space: Mapping[str, list]) -> list[dict]:
    names = list(space)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*space.values())]


def grid_search(evaluator: Evaluator, space: Mapping[str, list], *, lo=0, hi=None,
                progress: Callable[[int], None] | None = None) -> dict:  # fmt: skip
    """Every combination; {"evaluations": [...], "skipped": [(params, reason)], "best"}."""
    evaluations, skipped = [], []
    for i, params in enumerate(grid_combinations(space), start=1):
        try:
            evaluations.append(evaluator.evaluate(params, lo, hi))
        except ValueError as exc:
            skipped.append((params, str(exc)))
        if progress:
            progress(i)
    best = max(evaluations, key=_rank_key) if evaluations else None
    return {"evaluations": evaluations, "skipped": skipped, "best": best}


def tpe_search(evaluator: Evaluator, space: Mapping[str, list], trials: int, *, lo=0, hi=None,
               seed=SEED, progress: Callable[[int], None] | None = None) -> dict:  # fmt: skip
    """Optuna's TPE over the space's values (each parameter a categorical of its values, so
    the trials land on the same grid points a grid would), seeded."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    evaluations, skipped, seen = [], [], {}
    floor = -1e12  # what a refused or ruled-out combination scores for the sampler

    def objective(trial):
        params = {name: trial.suggest_categorical(name, values) for name, values in space.items()}
        key = tuple(sorted((k, repr(v)) for k, v in params.items()))
        if key not in seen:
            try:
                evaluation = evaluator.evaluate(params, lo, hi)
            except ValueError as exc:
                skipped.append((params, str(exc)))
                seen[key] = None
            else:
                evaluations.append(evaluation)
                seen[key] = evaluation
        evaluation = seen[key]
        if progress:
            progress(trial.number + 1)
        return floor if evaluation is None or evaluation.score is None else evaluation.score

    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=trials)
    best = max(evaluations, key=_rank_key) if evaluations else None
    return {"evaluations": evaluations, "skipped": skipped, "best": best}


def search(evaluator, space, *, method, trials, lo=0, hi=None, progress=None) -> dict:
    combos = math.prod(len(v) for v in space.values())
    if method == "grid" or (method == "walk_forward" and combos <= MAX_GRID):
        return grid_search(evaluator, space, lo=lo, hi=hi, progress=progress)
    return tpe_search(evaluator, space, trials, lo=lo, hi=hi, progress=progress)


def heatmap(space: Mapping[str, list], evaluations: list[Evaluation], skipped) -> dict | None:
    """The objective over a two-parameter grid: {"x", "y", "xs", "ys", "cells": [[score or
    None]] by y then x, "reasons": [[why a cell is empty or None]]}; None unless exactly two
    parameters vary."""
    varying = [name for name, values in space.items() if len(values) > 1]
    if len(varying) != 2:
        return None
    x, y = varying
    xs, ys = list(space[x]), list(space[y])
    cells = [[None] * len(xs) for _ in ys]
    reasons = [[""] * len(xs) for _ in ys]
    for e in evaluations:
        i, j = ys.index(e.params[y]), xs.index(e.params[x])
        cells[i][j] = _finite(e.score)
        if e.score is None:
            reasons[i][j] = "over the drawdown limit"
    for params, reason in skipped:
        reasons[ys.index(params[y])][xs.index(params[x])] = reason
    return {"x": x, "y": y, "xs": xs, "ys": ys, "cells": cells, "reasons": reasons}


def search_results(space, found: dict) -> dict:
    ranked = sorted(found["evaluations"], key=_rank_key, reverse=True)
    return {
        "evaluated": len(found["evaluations"]),
        "skipped": [{"params": p, "reason": r} for p, r in found["skipped"]],
        "best": found["best"].row() if found["best"] else None,
        "top": [e.row() for e in ranked[:TOP_ROWS]],
        "heatmap": heatmap(space, found["evaluations"], found["skipped"]),
    }


def folds_plan(n: int, folds: int, ratio: float) -> list[tuple[int, int, int]]:
    """Rolling (in-sample start, out-of-sample start, out-of-sample end) bar indices: each
    in-sample window is `ratio` times the out-of-sample one, the windows step by one
    out-of-sample length, and the out-of-sample windows tile the end of the series."""
    oos = int(n // (ratio + folds))
    ins = int(oos * ratio)
    if oos < 2 or ins < 2:
        return []
    first = n - folds * oos - ins
    return [(first + k * oos, first + k * oos + ins, first + (k + 1) * oos + ins)
            for k in range(folds)]  # fmt: skip


def _per_bar(total: float, bars: int) -> float:
    return (1 + total) ** (1 / max(bars, 1)) - 1 if total > -1 else -1.0


def walk_forward(evaluator: Evaluator, space, *, folds: int, ratio: float, trials: int,
                 gates: Mapping, progress=None) -> dict:  # fmt: skip
    """Rolling walk-forward analysis; see the module docstring."""
    plan = folds_plan(len(evaluator.candles), folds, ratio)
    if not plan:
        raise ValueError(
            f"{len(evaluator.candles)} bars are too few for {folds} folds with in-sample "
            f"{ratio:g} times the out-of-sample length"
        )
    combos = math.prod(len(v) for v in space.values())
    per_fold = combos if combos <= MAX_GRID else trials
    all_ts = evaluator.candles.ts
    rows, stitched, stitched_ts = [], [evaluator.cash], [int(all_ts[plan[0][1]])]
    for k, (a, b, c) in enumerate(plan):

        def fold_progress(i, k=k):
            if progress:
                progress(k * per_fold + i)

        found = search(evaluator, space, method="walk_forward", trials=trials, lo=a, hi=b,
                       progress=fold_progress)  # fmt: skip
        best = found["best"]
        if best is None:
            raise ValueError("no parameter combination of the space can run")
        oos = evaluator.evaluate(best.params, b, c, keep_equity=True)
        scale = stitched[-1] / oos.equity[0]
        stitched.extend((oos.equity[1:] * scale).tolist())
        stitched_ts.extend(all_ts[b + 1 : c].tolist())
        rows.append({
            "fold": k + 1, "in_sample": [int(all_ts[a]), int(all_ts[b - 1])],
            "out_of_sample": [int(all_ts[b]), int(all_ts[c - 1])],
            "params": best.params, "in_sample_score": _finite(best.score),
            "in_sample_return": best.total_return, "out_of_sample_return": oos.total_return,
            "out_of_sample_sharpe": oos.sharpe, "out_of_sample_drawdown": oos.max_drawdown,
            "out_of_sample_trades": oos.trades, "is_bars": b - a, "oos_bars": c - b,
        })  # fmt: skip
    equity = np.asarray(stitched)
    total, sharpe, drawdown = stats(equity, evaluator.interval_ms)
    profitable = sum(1 for r in rows if r["out_of_sample_return"] > 0)
    share = profitable / len(rows)
    is_rate = float(np.mean([_per_bar(r["in_sample_return"], r["is_bars"]) for r in rows]))
    oos_rate = float(np.mean([_per_bar(r["out_of_sample_return"], r["oos_bars"]) for r in rows]))
    efficiency = oos_rate / is_rate if is_rate > 0 else None
    min_folds = int(gates.get("min_folds", 0))
    min_share = float(gates.get("min_profitable_share", 0))
    max_dd = gates.get("max_drawdown")
    checks = [
        {"gate": "min_folds", "label": f"At least {min_folds} folds",
         "value": len(rows), "passed": len(rows) >= min_folds},
        {"gate": "min_profitable_share",
         "label": f"At least {min_share:.0%} of folds profitable out of sample",
         "value": share, "passed": share >= min_share},
    ]  # fmt: skip
    if max_dd is not None:
        checks.append({
            "gate": "max_drawdown", "label": f"Out-of-sample drawdown at most {float(max_dd):.1%}",
            "value": drawdown, "passed": drawdown <= float(max_dd),
        })  # fmt: skip
    warning = ""
    if is_rate > 0 and (efficiency is None or efficiency < WFE_WARNING):
        warning = (
            f"Overfitting likely: in-sample results are far better than out-of-sample "
            f"(out-of-sample return per bar is {max(efficiency, -9.99):.0%} of in-sample). "
            "The chosen parameters fit past noise more than a lasting edge."
        )
    sample = np.unique(np.linspace(0, len(equity) - 1, min(len(equity), 2000)).round().astype(int))
    return {
        "folds": rows,
        "stitched": {
            "total_return": total,
            "sharpe": sharpe,
            "max_drawdown": drawdown,
            "points": [[int(stitched_ts[i]), float(equity[i])] for i in sample.tolist()],
        },  # fmt: skip
        "profitable_share": share,
        "efficiency": efficiency,
        "gates": checks,
        "passed": all(check["passed"] for check in checks),
        "warning": warning,
    }
