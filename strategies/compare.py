"""Backtest runs compared side by side: their metrics, their equity as returns over time, and
whether their difference is more than luck.

Returns are autocorrelated, so the significance comes from a paired stationary bootstrap (the
`arch` package) of the per-period returns over the period the runs share: both runs' returns
resampled with the same blocks, the Sharpe ratio difference and the total-return difference
recomputed on each resample, giving a 95% confidence interval and a two-sided p-value (the
share of recentred resamples at least as far from zero as the observed difference). With more
than two runs, Hansen's Superior Predictive Ability test (arch.bootstrap.SPA) asks whether any
run beats the first (the benchmark) once testing several is accounted for. The seed is fixed:
the same runs give the same answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from arch.bootstrap import SPA, StationaryBootstrap, optimal_block_length
from django.core.exceptions import ValidationError

from marketdata.timeframes import TIMEFRAMES_MS
from strategies.models import BacktestRun

YEAR_MS = 365.25 * 24 * 3600 * 1000
MIN_RUNS, MAX_RUNS = 2, 8
MIN_PERIODS = 30  # fewer common periods than this: no significance is claimed
REPS = 1000
SEED = 20240501
ALPHA = 0.05


@dataclass(frozen=True)
class Aligned:
    """The runs' equity on one time grid over the period they share, and its returns."""

    ts: np.ndarray  # grid times, ms
    equity: np.ndarray  # [periods + 1, runs]
    returns: np.ndarray  # [periods, runs]
    step_ms: int

    @property
    def periods_per_year(self) -> float:
        return YEAR_MS / self.step_ms


def _points(run: BacktestRun) -> np.ndarray:
    points = np.asarray(run.results["equity"]["points"], dtype=np.float64)
    return points[:, :2]  # ts, equity


def align(runs: list[BacktestRun]) -> Aligned | None:
    """The runs' equity sampled on a common grid over the period they all cover: the coarsest
    spacing of their stored (sampled) equity points or timeframes; at each grid time the last
    equity at or before it. None when they share no period."""
    series = [_points(run) for run in runs]
    lo = max(float(s[0, 0]) for s in series)
    hi = min(float(s[-1, 0]) for s in series)
    if hi <= lo:
        return None
    step = max(
        max(int(np.median(np.diff(s[:, 0]))) if len(s) > 1 else 0 for s in series),
        max(TIMEFRAMES_MS.get(run.timeframe, 60_000) for run in runs),
    )
    ts = np.arange(lo, hi + 1, step, dtype=np.float64)
    if len(ts) < 2:
        return None
    columns = []
    for s in series:
        at = np.searchsorted(s[:, 0], ts, side="right") - 1
        columns.append(s[np.clip(at, 0, len(s) - 1), 1])
    equity = np.column_stack(columns)
    returns = equity[1:] / equity[:-1] - 1.0
    return Aligned(ts.astype(np.int64), equity, returns, int(step))


def sharpe(returns: np.ndarray, per_year: float) -> float:
    """Annualized Sharpe ratio of per-period returns (0 when they do not vary)."""
    spread = float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0
    if spread == 0 or not math.isfinite(spread):
        return 0.0
    return float(np.mean(returns)) / spread * math.sqrt(per_year)


def _total(returns: np.ndarray) -> float:
    return float(np.prod(1.0 + returns) - 1.0)


def block_size(differences: np.ndarray) -> int:
    """The stationary bootstrap's mean block length for these differences (Politis and White,
    as arch estimates it), at least 1 and at most a quarter of the series."""
    if not np.any(differences != differences[0]):
        return 1
    estimate = float(optimal_block_length(differences)["stationary"].iloc[0])
    if not math.isfinite(estimate):
        estimate = 1.0
    return int(min(max(1, round(estimate)), max(1, len(differences) // 4)))


def _interval_and_p(observed: float, draws: np.ndarray) -> tuple[float, float, float]:
    """95% percentile interval of the bootstrap draws and the two-sided p-value of "no
    difference": the share of draws, recentred on zero, at least as far out as observed."""
    low, high = np.quantile(draws, [ALPHA / 2, 1 - ALPHA / 2])
    centred = draws - observed
    p = float(np.mean(np.abs(centred) >= abs(observed) - 1e-15))
    return float(low), float(high), p


def pair_test(base: np.ndarray, other: np.ndarray, per_year: float, *, reps=REPS, seed=SEED):
    """The paired stationary bootstrap of two runs' returns: Sharpe and total-return
    differences (other minus base), each with its 95% interval and p-value."""
    differences = other - base
    sharpe_diff = sharpe(other, per_year) - sharpe(base, per_year)
    return_diff = _total(other) - _total(base)
    if not np.any(differences):  # the same returns: nothing to test, and no difference
        return {
            "identical": True, "block_size": 1, "reps": 0,
            "sharpe_diff": 0.0, "sharpe_ci": [0.0, 0.0], "sharpe_p": 1.0,
            "return_diff": 0.0, "return_ci": [0.0, 0.0], "return_p": 1.0,
        }  # fmt: skip
    block = block_size(differences)
    bootstrap = StationaryBootstrap(block, base, other, seed=seed)

    def stats(a, b):
        return np.array([sharpe(b, per_year) - sharpe(a, per_year), _total(b) - _total(a)])

    draws = bootstrap.apply(stats, reps)
    s_low, s_high, s_p = _interval_and_p(sharpe_diff, draws[:, 0])
    r_low, r_high, r_p = _interval_and_p(return_diff, draws[:, 1])
    return {
        "identical": False, "block_size": block, "reps": reps,
        "sharpe_diff": sharpe_diff, "sharpe_ci": [s_low, s_high], "sharpe_p": s_p,
        "return_diff": return_diff, "return_ci": [r_low, r_high], "return_p": r_p,
    }  # fmt: skip


def spa_test(returns: np.ndarray, *, reps=REPS, seed=SEED) -> dict:
    """Hansen's SPA of every other run against the first (losses are negative returns): the
    consistent p-value of "no run beats the benchmark"."""
    base, others = returns[:, 0], returns[:, 1:]
    block = max(block_size(others[:, j] - base) for j in range(others.shape[1]))
    if not np.any(others - base[:, None]):
        return {"p_value": 1.0, "p_lower": 1.0, "p_upper": 1.0, "block_size": 1, "reps": 0}
    spa = SPA(-base, -others, block_size=block, reps=reps, bootstrap="stationary", seed=seed)
    spa.compute()
    values = spa.pvalues
    return {
        "p_value": float(values["consistent"]), "p_lower": float(values["lower"]),
        "p_upper": float(values["upper"]), "block_size": block, "reps": reps,
    }  # fmt: skip


def _name(run: BacktestRun) -> str:
    return f"#{run.pk}"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def verdict(runs: list[BacktestRun], pairs: list[dict], spa: dict | None) -> str:
    """The answer in one plain sentence."""
    base = runs[0]
    if len(runs) == 2:
        pair, other = pairs[0], runs[1]
        if pair["identical"]:
            return (
                f"Runs {_name(base)} and {_name(other)} earned identical returns over their "
                "common period: there is no difference to test."
            )
        low, high = pair["sharpe_ci"]
        if pair["sharpe_p"] < ALPHA:
            better, worse = (other, base) if pair["sharpe_diff"] > 0 else (base, other)
            return (
                f"Run {_name(better)} has the better risk-adjusted return, and it is unlikely "
                f"to be luck: its Sharpe ratio is {abs(pair['sharpe_diff']):.2f} higher than "
                f"run {_name(worse)}'s (95% interval {low:+.2f} to {high:+.2f}, "
                f"{_p(pair['sharpe_p'])})."
            )
        return (
            f"Runs {_name(base)} and {_name(other)} cannot be told apart: the Sharpe ratio "
            f"difference of {pair['sharpe_diff']:+.2f} (95% interval {low:+.2f} to {high:+.2f}, "
            f"{_p(pair['sharpe_p'])}) could well be chance."
        )
    others = len(runs) - 1
    best = max(range(others), key=lambda j: pairs[j]["sharpe_diff"])
    if spa["p_value"] < ALPHA:
        return (
            f"At least one of the {others} other runs beats run {_name(base)} beyond chance, "
            f"even allowing for testing {others} of them (Hansen's SPA {_p(spa['p_value'])}); "
            f"the best is run {_name(runs[best + 1])}."
        )
    return (
        f"None of the {others} other runs beats run {_name(base)} beyond chance once testing "
        f"{others} of them is allowed for (Hansen's SPA {_p(spa['p_value'])}): their "
        "differences could be luck."
    )


def _clean(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def compare_runs(runs: list[BacktestRun], *, reps: int = REPS, seed: int = SEED) -> dict:
    """Everything the compare page and API show, JSON-ready. The first run is the benchmark.

    ValidationError (field "ids") for fewer than 2 or more than 8 runs, a repeated run, or a
    run that is not done."""
    errors = []
    if not MIN_RUNS <= len(runs) <= MAX_RUNS:
        errors.append(f"Choose {MIN_RUNS} to {MAX_RUNS} runs to compare (got {len(runs)}).")
    if len({run.pk for run in runs}) != len(runs):
        errors.append("A run is listed twice.")
    unfinished = [f"#{run.pk} is {run.status}" for run in runs if run.status != "done"]
    if unfinished:
        errors.append("Only finished runs can be compared: " + ", ".join(unfinished) + ".")
    if errors:
        raise ValidationError({"ids": errors})
    aligned = align(runs)
    curves = []
    for run in runs:
        points = run.results["equity"]["points"]
        start = points[0][1]
        curves.append([[p[0], (p[1] / start - 1) * 100] for p in points])
    out = {
        "runs": [
            {
                "id": run.pk,
                "strategy": run.strategy,
                "params": run.params,
                "market": f"{run.exchange} {run.symbol} {run.timeframe}",
                "start": run.start.isoformat(),
                "end": run.end.isoformat(),
                "metrics": run.results["metrics"],
            }
            for run in runs
        ],  # fmt: skip
        "curves": curves,
        "benchmark": runs[0].pk,
        "periods": 0,
        "pairs": [],
        "spa": None,
    }
    if aligned is None:
        out["verdict"] = "The runs share no period, so their returns cannot be compared."
        return _clean(out)
    per_year = aligned.periods_per_year
    out.update(
        periods=len(aligned.returns),
        period_ms=aligned.step_ms,
        common_start_ms=int(aligned.ts[0]),
        common_end_ms=int(aligned.ts[-1]),
    )
    if len(aligned.returns) < MIN_PERIODS:
        out["verdict"] = (
            f"The runs share only {len(aligned.returns)} periods: too few to tell luck from skill."
        )
        return _clean(out)
    base = aligned.returns[:, 0]
    pairs = []
    for j, run in enumerate(runs[1:], start=1):
        test = pair_test(base, aligned.returns[:, j], per_year, reps=reps, seed=seed)
        pairs.append({"run": run.pk, "against": runs[0].pk, **test})
    out["pairs"] = pairs
    if len(runs) > 2:
        out["spa"] = spa_test(aligned.returns, reps=reps, seed=seed)
    out["verdict"] = verdict(runs, pairs, out["spa"])
    return _clean(out)
