"""Optimization services: create a parameter search after validating every input (the
backtest's own checks for market, period, cash and fee; the search space against the strategy's
schema), and run it in a worker on the backtests queue with its progress stored as it goes and
pushed to the search's page and lists (strategies.live: evaluations done, ETA, the end).

The search itself is `strategies.optimize` (vectorized path, Optuna TPE, walk-forward)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from decimal import Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.timezone import now

from marketdata.services.candles import dt_to_ms
from marketdata.timeframes import TIMEFRAMES_MS
from strategies import optimize
from strategies.live import optimization_progress_publish, optimization_status_publish
from strategies.models import Optimization
from strategies.selectors import backtest_candles
from strategies.services import _validator, backtest_inputs_validate
from tradecore.backtest.data import DataError
from tradecore.backtest.data import validate as validate_candles
from tradecore.strategies import REGISTRY
from tradecore.strategies.base import SignalStrategy

logger = logging.getLogger(__name__)

MAX_VALUES = 200  # values one parameter may take in a search
DEFAULTS = {"trials": 100, "folds": 5, "ratio": 3.0, "min_profitable_share": 0.5}
PROGRESS_EVERY = 0.5  # seconds between stored progress reports (and cancel checks)


class OptimizationFailed(Exception):
    """The search cannot run; the message says why in words."""


def _values_of(name: str, spec, errors) -> list:
    """A parameter's values from [v, ...] or {"min", "max", "step"} (inclusive)."""
    if isinstance(spec, Mapping) and "values" in spec:
        spec = spec["values"]
    if isinstance(spec, list | tuple):
        values = list(dict.fromkeys(spec))
    elif isinstance(spec, Mapping):
        try:
            low, high = float(spec["min"]), float(spec["max"])
            step = float(spec.get("step") or 1)
        except (KeyError, TypeError, ValueError):
            errors[f"space.{name}"] = "Give min, max and step as numbers, or a list of values."
            return []
        if not all(map(math.isfinite, (low, high, step))) or step <= 0 or high < low:
            errors[f"space.{name}"] = "Give min ≤ max and a step above 0."
            return []
        count = int(math.floor((high - low) / step + 1e-9)) + 1
        if count > MAX_VALUES:
            errors[f"space.{name}"] = f"{count} values: at most {MAX_VALUES} per parameter."
            return []
        values = [low + i * step for i in range(count)]
        whole = all(float(v).is_integer() for v in (low, high, step))
        values = [int(round(v)) if whole else round(v, 10) for v in values]
    else:
        errors[f"space.{name}"] = "Give a list of values or {min, max, step}."
        return []
    if not values:
        errors[f"space.{name}"] = "Give at least one value."
    elif len(values) > MAX_VALUES:
        errors[f"space.{name}"] = f"{len(values)} values: at most {MAX_VALUES} per parameter."
    return values


def space_validate(*, strategy: str, space) -> dict[str, list]:
    """The search space as {param: [values]}; ValidationError naming `space.<param>` for an
    unknown parameter or a value its schema refuses."""
    if not isinstance(space, Mapping) or not space:
        raise ValidationError({"space": "Choose at least one parameter to search."})
    properties = REGISTRY[strategy].config_class.json_schema().get("properties", {})
    errors, clean = {}, {}
    for name, spec in space.items():
        if name not in properties:
            errors[f"space.{name}"] = (
                f"{strategy} has no parameter {name!r}; it has {', '.join(properties)}."
            )
            continue
        values = _values_of(name, spec, errors)
        for value in values:
            problems = [e.message for e in _validator(strategy).iter_errors({name: value})]
            if problems:
                errors[f"space.{name}"] = f"{value!r}: {problems[0]}"
                break
        clean[name] = values
    if errors:
        raise ValidationError(errors)
    return clean


def _number(errors, field, value, default, *, low, high, whole=False):
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors[field] = "Enter a number."
        return None
    if not math.isfinite(number) or not low <= number <= high:
        errors[field] = f"Enter a number from {low:g} to {high:g}."
        return None
    if whole and not number.is_integer():
        errors[field] = "Enter a whole number."
        return None
    return int(number) if whole else number


def options_validate(*, method: str, objective: str, options: Mapping | None) -> dict:
    """Trials, folds, in-sample ratio, gates and the drawdown limit, with their defaults."""
    options, errors = dict(options or {}), {}
    if method not in Optimization.Method.values:
        errors["method"] = f"Choose one of {', '.join(Optimization.Method.values)}."
    if objective not in Optimization.Objective.values:
        errors["objective"] = f"Choose one of {', '.join(Optimization.Objective.values)}."
    clean = {
        "trials": _number(errors, "options.trials", options.get("trials"), DEFAULTS["trials"],
                          low=1, high=optimize.MAX_TRIALS, whole=True),
        "max_drawdown": _number(errors, "options.max_drawdown", options.get("max_drawdown"),
                                None, low=0.0001, high=1),
    }  # fmt: skip
    if objective == "return_dd" and clean["max_drawdown"] is None and not errors:
        errors["options.max_drawdown"] = "A drawdown-limited return needs the drawdown limit."
    if method == "walk_forward":
        folds = _number(errors, "options.folds", options.get("folds"), DEFAULTS["folds"],
                        low=2, high=50, whole=True)  # fmt: skip
        clean.update(
            folds=folds,
            ratio=_number(errors, "options.ratio", options.get("ratio"), DEFAULTS["ratio"],
                          low=0.5, high=20),
            min_folds=_number(errors, "options.min_folds", options.get("min_folds"), folds,
                              low=1, high=50, whole=True),
            min_profitable_share=_number(
                errors, "options.min_profitable_share", options.get("min_profitable_share"),
                DEFAULTS["min_profitable_share"], low=0, high=1),
        )  # fmt: skip
    if errors:
        raise ValidationError(errors)
    return clean


@transaction.atomic
def optimization_create(
    *, user, strategy: str, params: Mapping | None, space, method: str, objective: str,
    options: Mapping | None = None, exchange: str, symbol: str, timeframe: str, start, end,
    cash, fee_rate=None,
) -> Optimization:  # fmt: skip
    """Validate every input and queue the search (its task sent once committed).
    ValidationError names each bad field; nothing is written then."""
    errors = {}
    try:
        inputs = backtest_inputs_validate(
            strategy=strategy, params=params, exchange=exchange, symbol=symbol,
            timeframe=timeframe, start=start, end=end, cash=cash, fee_rate=fee_rate,
        )  # fmt: skip
    except ValidationError as exc:
        errors.update(exc.message_dict)
        inputs = None
    if strategy in REGISTRY and not issubclass(REGISTRY[strategy], SignalStrategy):
        errors["strategy"] = [
            f"{strategy} is not a signal strategy; optimization runs on the vectorized path of "
            "signal strategies (SMA, EMA, RSI, MACD, Bollinger)."
        ]
    clean_space = {}
    if strategy in REGISTRY:
        try:
            clean_space = space_validate(strategy=strategy, space=space)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    try:
        clean_options = options_validate(method=method, objective=objective, options=options)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    else:
        combos = math.prod(len(v) for v in clean_space.values()) if clean_space else 0
        if method == "grid" and combos > optimize.MAX_GRID:
            errors["space"] = [
                f"{combos:,} combinations; a grid runs at most {optimize.MAX_GRID:,}: narrow "
                "the ranges or use Optuna TPE."
            ]
    if errors:
        raise ValidationError(errors)
    inputs.pop("slippage_bp", None)
    run = Optimization.objects.create(
        user=user, space=clean_space, method=method, objective=objective,
        options=clean_options, **inputs,
    )  # fmt: skip
    run_id = run.pk
    transaction.on_commit(lambda: _enqueue(run_id))
    return run


def _enqueue(run_id: int) -> None:
    from strategies.tasks import backtest_optimization_execute

    backtest_optimization_execute.apply_async((run_id,), queue="backtests")


def optimization_cancel(*, run: Optimization) -> Optimization:
    """Cancel a queued search at once, or stop a running one at its next progress report."""
    with transaction.atomic():
        run = Optimization.objects.select_for_update().get(pk=run.pk)
        if run.is_final:
            raise ValidationError({"status": f"The optimization is already {run.status}."})
        if run.status == Optimization.Status.QUEUED:
            run.status, run.finished_at = Optimization.Status.CANCELLED, now()
            run.save(update_fields=["status", "finished_at"])
            run_id = run.pk
            transaction.on_commit(
                lambda: optimization_status_publish(run_id=run_id, status="cancelled")
            )
        else:
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested"])
    return run


def _planned(run: Optimization, n_bars: int | None = None) -> int:
    combos = math.prod(len(v) for v in run.space.values())
    trials = run.options.get("trials", DEFAULTS["trials"])
    if run.method == "grid":
        return combos
    if run.method == "tpe":
        return trials
    per_fold = combos if combos <= optimize.MAX_GRID else trials
    return per_fold * run.options["folds"]


class _Progress:
    """Stores and publishes evaluations done (with the ETA from the rate so far) at most every
    PROGRESS_EVERY seconds, and the last one; raises if cancelled."""

    def __init__(self, run_id: int, total: int):
        import time

        self.run_id, self.total, self._clock, self._last = run_id, total, time.monotonic, 0.0
        self._started = self._clock()

    def __call__(self, done: int) -> None:
        at = self._clock()
        if at - self._last < PROGRESS_EVERY and done < self.total:
            return
        self._last, done = at, min(done, self.total)
        Optimization.objects.filter(pk=self.run_id).update(done=done)
        elapsed = at - self._started
        eta = (self.total - done) * elapsed / done if done and elapsed > 0 else None
        optimization_progress_publish(run_id=self.run_id, done=done, total=self.total,
                                      eta_seconds=eta)  # fmt: skip
        if Optimization.objects.filter(pk=self.run_id, cancel_requested=True).exists():
            raise optimize.OptimizationCancelled


def _search(run: Optimization) -> dict:
    candles = backtest_candles(
        exchange=run.exchange, symbol=run.symbol, timeframe=run.timeframe,
        start_ms=dt_to_ms(run.start), end_ms=dt_to_ms(run.end),
    )  # fmt: skip
    if candles is None:
        raise OptimizationFailed(
            f"no candles for {run.symbol} {run.timeframe} on {run.exchange} between "
            f"{run.start:%Y-%m-%d %H:%M} and {run.end:%Y-%m-%d %H:%M} UTC"
        )
    try:
        validate_candles(candles, f"candles for {run.symbol} {run.timeframe} on {run.exchange}")
    except DataError as exc:
        raise OptimizationFailed(str(exc)) from None
    total = _planned(run)
    Optimization.objects.filter(pk=run.pk).update(total=total)
    progress = _Progress(run.pk, total)
    fixed = {k: v for k, v in run.params.items() if k not in run.space}
    evaluator = optimize.Evaluator(
        REGISTRY[run.strategy], candles, symbol=run.symbol, base_params=fixed,
        fee=float(run.fee_rate), cash=float(run.cash), interval_ms=TIMEFRAMES_MS[run.timeframe],
        objective=run.objective, max_drawdown=run.options.get("max_drawdown"),
    )  # fmt: skip
    results = {"bars": len(candles), "planned": total}
    try:
        if run.method == "walk_forward":
            results["walk_forward"] = optimize.walk_forward(
                evaluator, run.space, folds=run.options["folds"], ratio=run.options["ratio"],
                trials=run.options["trials"], progress=progress,
                gates={"min_folds": run.options["min_folds"],
                       "min_profitable_share": run.options["min_profitable_share"],
                       "max_drawdown": run.options.get("max_drawdown")},
            )  # fmt: skip
        else:
            found = optimize.search(evaluator, run.space, method=run.method,
                                    trials=run.options["trials"], progress=progress)  # fmt: skip
            results.update(optimize.search_results(run.space, found))
    except ValueError as exc:
        raise OptimizationFailed(str(exc)) from None
    progress(total)
    return results


def _finish(run_id: int, status: str, **fields) -> None:
    Optimization.objects.filter(pk=run_id, status=Optimization.Status.RUNNING).update(
        status=status, finished_at=now(), **fields
    )


def optimization_execute(*, run_id: int) -> str:
    """Run a queued search and store its results (or why it failed); idempotent."""
    claimed = Optimization.objects.filter(pk=run_id, status=Optimization.Status.QUEUED).update(
        status=Optimization.Status.RUNNING, started_at=now()
    )
    if not claimed:
        status = Optimization.objects.values_list("status", flat=True).get(pk=run_id)
        if status in Optimization.FINAL:
            optimization_status_publish(run_id=run_id, status=status)
        return status
    optimization_progress_publish(run_id=run_id, done=0, total=0)  # taken: loading candles
    run = Optimization.objects.get(pk=run_id)
    try:
        results = _search(run)
    except optimize.OptimizationCancelled:
        _finish(run_id, Optimization.Status.CANCELLED)
    except OptimizationFailed as exc:
        _finish(run_id, Optimization.Status.FAILED, error=str(exc))
    except SoftTimeLimitExceeded:
        _finish(run_id, Optimization.Status.FAILED,
                error="The search ran longer than a worker allows; narrow it.")  # fmt: skip
    except Exception as exc:
        logger.exception("optimization %s failed", run_id)
        reason = f"The search stopped on an internal error ({type(exc).__name__}: {exc})."
        _finish(run_id, Optimization.Status.FAILED, error=reason)
    else:
        _finish(run_id, Optimization.Status.DONE, results=_json(results))
    status = Optimization.objects.values_list("status", flat=True).get(pk=run_id)
    optimization_status_publish(run_id=run_id, status=status)
    return status


def _json(value):
    """Non-finite floats as null (jsonb has none)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value
