"""Strategy parameters: validated against the strategy's JSON schema, then by tradecore itself.
Backtest runs: created after validating every input, executed by a worker through tradecore's
event-driven runner, cancelled by their owner; a failure is stored in words."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache

import jsonschema
import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_aware, make_aware, now

from marketdata.services.candles import Gap, dt_to_ms
from marketdata.timeframes import TIMEFRAMES_MS
from strategies.backtest_results import (
    chart_indicators,
    cyclic_gc_paused,
    data_fingerprint,
    results_build,
)
from strategies.live import ProgressPublisher, backtest_status_publish
from strategies.models import BacktestRun, StrategyConfig
from strategies.selectors import FAMILIES, backtest_candles, instrument_steps
from tradecore import __version__ as tradecore_version
from tradecore.backtest.checks import check_inputs
from tradecore.backtest.data import DataError
from tradecore.backtest.data import validate as validate_candles
from tradecore.backtest.runner import run_candles
from tradecore.domain import Instrument
from tradecore.exchange import FixedBpsSlippage, FixedLatency
from tradecore.strategies import REGISTRY, ConfigError, validate_config


@cache
def _validator(strategy_id: str) -> jsonschema.protocols.Validator:
    schema = REGISTRY[strategy_id].config_class.json_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _field_of(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return extra[0] if extra else "params"
    return str(error.absolute_path[0]) if error.absolute_path else "params"


def strategy_params_validate(*, strategy: str, params: Mapping) -> dict:
    """Check `params` against the strategy's schema and rules; return them complete.

    Raises ValidationError with one message per offending field; the result has every field
    (defaults filled in) in JSON form, Decimals as strings.
    """
    if strategy not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValidationError({"strategy": f"Unknown strategy {strategy!r}; known: {known}."})
    if not isinstance(params, Mapping):
        raise ValidationError({"params": "Parameters must be a JSON object."})
    errors: dict[str, list[str]] = {}
    for error in sorted(_validator(strategy).iter_errors(dict(params)), key=str):
        message = error.message
        if error.validator == "pattern":
            message = f"{error.instance!r} is not a decimal number"
        errors.setdefault(_field_of(error), []).append(message)
    # tradecore checks the values (decimal bounds, cross-field rules) of the fields the schema
    # did not already refuse, so one answer names every bad field it can
    known = {k: v for k, v in params.items() if k not in errors}
    try:
        config = validate_config(strategy, known)
    except ConfigError as exc:
        errors.setdefault(exc.field or "params", []).append(exc.message)
        config = None
    if errors:
        raise ValidationError(errors)
    return config.to_dict()


@transaction.atomic
def strategy_config_save(
    *,
    user,
    name: str,
    strategy: str,
    params: Mapping,
    description: str = "",
    config: StrategyConfig | None = None,
) -> StrategyConfig:
    """Create (or update `config`) after validating its parameters; nothing saved on error."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the config a name."
    elif (
        StrategyConfig.objects.filter(user_id=user.pk, name=name)
        .exclude(pk=getattr(config, "pk", None))
        .exists()
    ):
        errors["name"] = "You already have a strategy config with this name."
    try:
        clean = strategy_params_validate(strategy=strategy, params=params)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    if config is None:
        config = StrategyConfig(user=user)
    elif config.user_id != user.pk:
        raise ValidationError({"config": "Not your strategy config."})
    config.name, config.strategy, config.params = name, strategy, clean
    config.description = (description or "").strip()[:500]
    config.save()
    return config


def strategy_config_delete(*, config: StrategyConfig) -> None:
    """Delete a saved config; bots created from it keep their own copy of the parameters."""
    config.delete()


# -- backtests -------------------------------------------------------------------------------
BACKTEST_FAMILIES = ("signal", "grid")  # strategies that trade from candles alone
DEFAULT_FEE_RATE = Decimal("0.001")
MAX_SLIPPAGE_BP = Decimal(1000)
MAX_PERIOD = timedelta(days=3 * 366)
_STEP = Decimal("0.00000001")

logger = logging.getLogger(__name__)


class BacktestCancelled(Exception):
    """The owner cancelled the run while it was replaying bars."""


class BacktestFailed(Exception):
    """The run cannot produce results; the message says why in words."""


def _decimal_field(errors, field, value, *, low, high=None, low_inclusive=True, words=""):
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors[field] = f"Enter a number{words}."
        return None
    if not number.is_finite():
        errors[field] = f"Enter a finite number{words}."
        return None
    too_low = number < low if low_inclusive else number <= low
    if too_low or (high is not None and number >= high):
        errors[field] = f"{number} is out of range{words}."
        return None
    return number


def _aware(errors, field, value) -> datetime | None:
    if isinstance(value, str):
        value = parse_datetime(value.strip()) or (
            datetime.combine(parse_date(value.strip()), time())
            if parse_date(value.strip())
            else None
        )
    if not isinstance(value, datetime):
        errors[field] = "Enter a date and time, e.g. 2021-05-01T00:00:00Z."
        return None
    return value if is_aware(value) else make_aware(value, UTC)


def backtest_default_fee(*, exchange: str, symbol: str) -> Decimal:
    """The fee a backtest charges when the user gives none: the instrument's taker fee when
    known, else 0.1%. (Stored instruments do not record fees yet, so today it is 0.1%.)"""
    fee = getattr(_instrument_row(exchange, symbol), "taker_fee", None)
    return Decimal(str(fee)) if fee is not None else DEFAULT_FEE_RATE


def _instrument_row(exchange: str, symbol: str):
    from marketdata.models import Instrument

    return Instrument.objects.filter(exchange=exchange, symbol=symbol).first()


def _backtest_market_validate(errors, exchange, symbol, timeframe) -> tuple[str, str, str]:
    exchange, symbol, timeframe = (str(v or "").strip() for v in (exchange, symbol, timeframe))
    if not exchange:
        errors["exchange"] = "Choose an exchange."
    base, sep, quote = symbol.partition("/")
    if not (sep and base and quote):
        errors["symbol"] = f"Give the market as BASE/QUOTE, e.g. BTC/USDT (got {symbol!r})."
    if timeframe not in TIMEFRAMES_MS:
        errors["timeframe"] = f"Choose one of {', '.join(TIMEFRAMES_MS)}."
    return exchange, symbol, timeframe


def _backtest_strategy_validate(errors, strategy, params, data_source="candles") -> dict:
    from strategies.tick_backtests import strategy_family_allowed

    entry_family = FAMILIES.get(strategy)
    ticks = strategy_family_allowed(strategy=strategy, data_source=data_source)
    if strategy in REGISTRY and entry_family not in BACKTEST_FAMILIES and not ticks:
        errors["strategy"] = (
            f"{strategy} quotes on order books; backtests on candles run signal, grid and DCA "
            "strategies (choose the trades or book data source for a market maker)."
        )
        return {}
    try:
        return strategy_params_validate(strategy=strategy, params=params if params else {})
    except ValidationError as exc:
        errors.update(
            {k if k == "strategy" else f"params.{k}": v for k, v in exc.message_dict.items()}
        )
        return {}


def backtest_inputs_validate(
    *,
    strategy: str,
    params: Mapping | None,
    exchange: str,
    symbol: str,
    timeframe: str,
    start,
    end,
    cash,
    fee_rate=None,
    slippage_bp=0,
    data_source="candles",
    slippage_model=None,
    latency_ms=0,
    with_execution=False,
) -> dict:
    """Every input of a backtest checked and made clean (params complete, times aware,
    numbers Decimal), as the keyword arguments of a run; ValidationError naming each bad field
    (parameters as `params.<name>`). Backtests and optimizations share it; the data source,
    slippage model and latency (strategies.tick_backtests) are in the result only
    `with_execution` (a run's; an optimization has none)."""
    errors: dict[str, object] = {}
    clean_params = _backtest_strategy_validate(errors, strategy, params, data_source)
    exchange, symbol, timeframe = _backtest_market_validate(errors, exchange, symbol, timeframe)
    start, end = _aware(errors, "start", start), _aware(errors, "end", end)
    if start and end and end <= start:
        errors["end"] = "The period must end after it starts."
    elif start and end and end - start > MAX_PERIOD:
        errors["end"] = "A backtest covers at most three years."
    cash = _decimal_field(
        errors, "cash", cash, low=Decimal(0), low_inclusive=False, words=" above 0"
    )
    if fee_rate in (None, ""):
        fee_rate = backtest_default_fee(exchange=exchange, symbol=symbol)
    fee_rate = _decimal_field(
        errors, "fee_rate", fee_rate, low=Decimal(0), high=Decimal(1),
        words=": a fee is a fraction of the notional in [0, 1), e.g. 0.001",
    )  # fmt: skip
    slippage_bp = _decimal_field(
        errors, "slippage_bp", slippage_bp or 0, low=Decimal(0), high=MAX_SLIPPAGE_BP,
        words=" from 0 to 1000 basis points",
    )  # fmt: skip
    from strategies.tick_backtests import execution_validate

    execution = execution_validate(
        errors, strategy=strategy, data_source=data_source, slippage_model=slippage_model,
        slippage_bp=slippage_bp, latency_ms=latency_ms, exchange=exchange, symbol=symbol,
        timeframe=timeframe, start=start, end=end,
    )  # fmt: skip
    if errors:
        raise ValidationError(errors)
    return {
        "strategy": strategy, "params": clean_params, "exchange": exchange, "symbol": symbol,
        "timeframe": timeframe, "start": start, "end": end, "cash": cash, "fee_rate": fee_rate,
        "slippage_bp": slippage_bp, **(execution if with_execution else {}),
    }  # fmt: skip


@transaction.atomic
def backtest_run_create(*, user, **inputs) -> BacktestRun:
    """Validate every input (`backtest_inputs_validate`), save a queued run and queue its task
    once committed.

    Raises ValidationError naming each bad field (parameters as `params.<name>`); nothing is
    written then. Whether candles exist for the period is the run's business: it fails saying so.
    """
    clean = backtest_inputs_validate(**inputs, with_execution=True)
    run = BacktestRun.objects.create(user=user, **clean)
    transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: int) -> None:
    from strategies.tasks import backtest_run_execute

    backtest_run_execute.apply_async((run_id,), queue="backtests")


@transaction.atomic
def backtest_run_cancel(*, run: BacktestRun) -> BacktestRun:
    """Cancel a queued run at once, or ask a running one to stop at its next progress report."""
    run = BacktestRun.objects.select_for_update().get(pk=run.pk)
    if run.is_final:
        raise ValidationError({"status": f"The backtest is already {run.status}."})
    if run.status == BacktestRun.Status.QUEUED:
        run.status, run.finished_at = BacktestRun.Status.CANCELLED, now()
        run.save(update_fields=["status", "finished_at"])
        run_id = run.pk
        transaction.on_commit(lambda: backtest_status_publish(run_id=run_id, status="cancelled"))
    else:
        run.cancel_requested = True
        run.save(update_fields=["cancel_requested"])
    return run


def _move(run_id: int, status: str, **fields) -> bool:
    """Move a running run to its final `status` if its transitions allow; False (nothing
    written) if not. A run its owner asked to cancel ends cancelled, not done."""
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run_id)
        if run.cancel_requested and status == BacktestRun.Status.DONE:
            status, fields = BacktestRun.Status.CANCELLED, {}
        if not run.can_move_to(status):
            return False
        run.status = status
        for name, value in fields.items():
            setattr(run, name, value)
        if status in BacktestRun.FINAL:
            run.finished_at = now()
        run.save()
        return True


# a three-year 1m backtest replays about 1.6M bars: far more than Celery's default 300 s (the
# broker's visibility timeout, 3600 s, stays above the hard limit)
SOFT_LIMIT_SECONDS = 3000
HARD_LIMIT_SECONDS = 3300
TOO_LONG = "The backtest ran longer than a worker allows; choose a shorter period."


@transaction.atomic
def _claim(run_id: int) -> bool:
    """Take the run for this attempt: a queued run starts; a running one starts over.

    A run's task is sent once, so its message arriving for a run already running means the
    attempt that took it is gone (its worker died: late acks requeue the message, or the
    broker redelivered it after its visibility timeout, past the task's hard time limit).
    Results do not depend on the attempt, so starting over is safe, unless the attempt ran
    past the time limit: then it was killed for it, and would be again.
    """
    run = BacktestRun.objects.select_for_update().get(pk=run_id)
    overdue = run.started_at and now() - run.started_at >= timedelta(seconds=SOFT_LIMIT_SECONDS)
    if run.status == BacktestRun.Status.RUNNING and overdue:  # killed at the hard time limit
        run.status, run.finished_at, run.error = BacktestRun.Status.FAILED, now(), TOO_LONG
        run.save(update_fields=["status", "finished_at", "error"])
        return False
    if run.status == BacktestRun.Status.RUNNING and not run.cancel_requested:
        logger.warning("backtest %s: its previous attempt was lost; starting over", run_id)
        run.bars_done, run.started_at = 0, now()
        run.save(update_fields=["bars_done", "started_at"])
        return True
    if run.status == BacktestRun.Status.RUNNING:  # lost while being cancelled: cancelled
        run.status, run.finished_at = BacktestRun.Status.CANCELLED, now()
        run.save(update_fields=["status", "finished_at"])
        return False
    if not run.can_move_to(BacktestRun.Status.RUNNING):
        return False
    run.status, run.started_at = BacktestRun.Status.RUNNING, now()
    run.save(update_fields=["status", "started_at"])
    return True


def backtest_run_execute(*, run_id: int) -> str:
    """Run a queued backtest to its end and store the outcome; return the final status.

    Idempotent: a finished or cancelled run is left as it is. Any failure is stored in words;
    the worker never sees the exception.
    """
    if not _claim(run_id):
        status = BacktestRun.objects.values_list("status", flat=True).get(pk=run_id)
        if status in BacktestRun.FINAL:
            backtest_status_publish(run_id=run_id, status=status)
        return status
    run = BacktestRun.objects.get(pk=run_id)
    try:
        outcome = _backtest_replay(run)
    except BacktestCancelled:
        _move(run_id, BacktestRun.Status.CANCELLED)
    except BacktestFailed as exc:
        _move(run_id, BacktestRun.Status.FAILED, error=str(exc))
    except SoftTimeLimitExceeded:
        _move(run_id, BacktestRun.Status.FAILED, error=TOO_LONG)
    except Exception as exc:
        logger.exception("backtest %s failed", run_id)
        reason = f"The backtest stopped on an internal error ({type(exc).__name__}: {exc})."
        _move(run_id, BacktestRun.Status.FAILED, error=reason)
    else:
        _move(run_id, BacktestRun.Status.DONE, **outcome)
    status = BacktestRun.objects.values_list("status", flat=True).get(pk=run_id)
    backtest_status_publish(run_id=run_id, status=status)
    return status


HISTORY_FETCH_MAX_GAPS = 100  # ranges fetched per run; more are reported as missing


def missing_ranges(ts_ms, *, start_ms: int, end_ms: int, step: int) -> list[Gap]:
    """The bars of [start, end) on the timeframe's grid that `ts_ms` (sorted) lacks, as ranges:
    before the first stored bar, between stored bars and after the last."""
    first = -(-start_ms // step) * step
    last = (end_ms - 1) // step * step
    if last < first:
        return []
    ts = np.asarray(ts_ms, dtype=np.int64)
    if not len(ts):
        return [Gap(first, last, (last - first) // step + 1)]
    gaps = []
    if ts[0] > first:
        gaps.append(Gap(first, int(ts[0]) - step, (int(ts[0]) - first) // step))
    holes = np.flatnonzero(np.diff(ts) > step)
    for i in holes.tolist():
        before, after = int(ts[i]), int(ts[i + 1])
        gaps.append(Gap(before + step, after - step, (after - before) // step - 1))
    if ts[-1] < last:
        gaps.append(Gap(int(ts[-1]) + step, last, (last - int(ts[-1])) // step))
    return gaps


def history_fetch_allowed(exchange: str) -> bool:
    """Whether a backtest may fetch the missing bars of `exchange` (settings)."""
    from exchanges import registry

    mode = settings.PEREGRINE_BACKTEST_FETCH_HISTORY
    if mode == "none":
        return False
    return registry.is_sandbox(exchange) or (mode == "all" and registry.is_supported(exchange))


def _load_candles(run: BacktestRun):
    return backtest_candles(
        exchange=run.exchange, symbol=run.symbol, timeframe=run.timeframe,
        start_ms=dt_to_ms(run.start), end_ms=dt_to_ms(run.end),
    )  # fmt: skip


def _backtest_history_fetch(run: BacktestRun, publisher) -> tuple[object, list[str]]:
    """The run's stored candles, after fetching the ranges its period lacks with ccxt from the
    exchange (marketdata's candle_backfill: stored, higher timeframes derived), when allowed.

    Returns the candles (None if still none) and what was done, in words. An exchange that
    refuses or cannot be reached is said so; the run goes on with what is stored."""
    candles = _load_candles(run)
    step = TIMEFRAMES_MS[run.timeframe]
    start_ms, end_ms = dt_to_ms(run.start), min(dt_to_ms(run.end), int(now().timestamp() * 1000))
    stamps = candles.ts if candles is not None else ()
    gaps = missing_ranges(stamps, start_ms=start_ms, end_ms=end_ms, step=step)
    if not gaps or not history_fetch_allowed(run.exchange):
        return candles, []
    from exchanges.gateway.clients import sync_client
    from marketdata.services.history import candle_backfill

    missing = sum(g.missing for g in gaps)
    publisher.fetching(
        f"Fetching {missing:,} missing bars in {len(gaps)} range(s) from {run.exchange}…"
    )
    notes, before = [], len(stamps)
    try:
        client = sync_client(run.exchange)
        for gap in gaps[:HISTORY_FETCH_MAX_GAPS]:
            backtest_run_progress(run_id=run.pk, done=0)  # raises if cancelled meanwhile
            candle_backfill(
                client=client, exchange=run.exchange, symbol=run.symbol,
                timeframe=run.timeframe, start_ms=gap.start_ms, end_ms=gap.end_ms + step,
            )  # fmt: skip
    except BacktestCancelled:
        raise
    except Exception as exc:  # the exchange's or the network's: run on what is stored
        logger.warning("backtest %s: history not fetched", run.pk, exc_info=True)
        notes.append(
            f"Missing history could not be fetched from {run.exchange} "
            f"({type(exc).__name__}: {str(exc)[:200]}); the run used the stored bars only"
        )
    if len(gaps) > HISTORY_FETCH_MAX_GAPS:
        notes.append(
            f"Only the first {HISTORY_FETCH_MAX_GAPS} of {len(gaps)} missing ranges were "
            "fetched; the others remain"
        )
    candles = _load_candles(run)
    fetched = (len(candles) if candles is not None else 0) - before
    notes.insert(0, (
        f"Fetched {fetched:,} of the {missing:,} missing bars from {run.exchange} before the run"
        if fetched > 0 else f"{run.exchange} had none of the {missing:,} missing bars"
    ))  # fmt: skip
    return candles, notes


def _backtest_inputs(run: BacktestRun, publisher=None):
    """The candles, strategy and instrument of a run, or BacktestFailed saying what is wrong;
    and what fetching the missing history did, in words."""
    if publisher is None:
        candles, notes = _load_candles(run), []
    else:
        candles, notes = _backtest_history_fetch(run, publisher)
    if candles is None:
        tried = f"; {notes[-1]}" if len(notes) > 1 else ""
        raise BacktestFailed(
            f"no candles for {run.symbol} {run.timeframe} on {run.exchange} between "
            f"{run.start:%Y-%m-%d %H:%M} and {run.end:%Y-%m-%d %H:%M} UTC"
            + (f" (none to fetch from {run.exchange} either{tried})" if notes else "")
        )
    try:
        validate_candles(candles, f"candles for {run.symbol} {run.timeframe} on {run.exchange}")
        config = validate_config(run.strategy, run.params)
    except (DataError, ConfigError) as exc:
        raise BacktestFailed(str(exc)) from None
    strategy = REGISTRY[run.strategy](config, symbol=run.symbol)
    base, _, quote = run.symbol.partition("/")
    steps = instrument_steps(exchange=run.exchange, symbol=run.symbol) or {}
    instrument = Instrument(
        run.symbol, base, quote, steps.get("price_step") or _STEP,
        steps.get("amount_step") or _STEP, steps.get("min_cost") or Decimal(0),
        run.fee_rate, run.fee_rate,
    )  # fmt: skip
    return candles, strategy, instrument, notes


def _backtest_replay(run: BacktestRun) -> dict:
    from strategies.tick_backtests import feed_replay, uses_feed

    publisher = ProgressPublisher(run.pk)
    if uses_feed(run):  # trades, books or book-walk fills
        return feed_replay(run, publisher)
    candles, strategy, instrument, notes = _backtest_inputs(run, publisher)
    total = len(candles)
    BacktestRun.objects.filter(pk=run.pk).update(bars_total=total)
    publisher.restart_clock()
    publisher.replaying(0, total, force=True)

    def progress(done: int, _total: int) -> None:
        backtest_run_progress(run_id=run.pk, done=done)  # raises if cancelled
        publisher.replaying(done, total, force=done >= total)

    warnings = notes + _backtest_warnings(run, candles, strategy, instrument)
    options = {}
    if run.slippage_bp:
        options["slippage_model"] = FixedBpsSlippage(run.slippage_bp)
    if run.latency_ms:
        options["latency_model"] = FixedLatency(run.latency_ms)
    with cyclic_gc_paused():
        result = run_candles(
            strategy, candles, instrument, cash=run.cash,
            interval_ms=TIMEFRAMES_MS[run.timeframe],
            progress=progress,
            progress_every=max(PROGRESS_MIN_BARS, total // 100), **options,
        )  # fmt: skip
        results = results_build(result, candles, cash=float(run.cash))
        results["indicators"] = chart_indicators(run.strategy, run.params, candles)
        results["monthly_returns"] = monthly_returns(
            candles.ts, result.equity, cash=float(run.cash)
        )
        results["gaps"] = gaps_json(run, candles)
    return {
        "results": results,
        "warnings": warnings,
        "bars_done": total,
        "code_version": code_version(),
        "data_fingerprint": data_fingerprint(candles),
    }


def backtest_paper_bot_create(*, run: BacktestRun, name: str = ""):
    """A draft paper bot running the finished run's strategy and params on its market, with the
    run's cash as budget, through trading's bot_create; ValidationError in words on any problem.

    The run's exchange is the venue; one the platform cannot trade on falls back to the first
    sandbox venue. Nothing is written on an error."""
    from exchanges import registry
    from trading.services.bots import bot_create

    if run.status != BacktestRun.Status.DONE:
        raise ValidationError(
            {"run": f"The backtest is {run.status}; only a finished run can start a paper bot."}
        )
    exchange = run.exchange
    if not registry.is_supported(exchange) and registry.sandbox_venues():
        exchange = registry.sandbox_venues()[0]
    return bot_create(
        user=run.user, name=name or f"{run.strategy} from backtest #{run.pk}",
        strategy=run.strategy, params=dict(run.params), symbols=[run.symbol],
        venues=[{"exchange": exchange}], budget=run.cash, mode="paper",
    )  # fmt: skip


def monthly_returns(ts_ms, equity, *, cash: float) -> dict:
    """Return per calendar month (UTC) in %, from the full equity curve (one value per bar).

    A month's return is its last equity over the previous month's last equity (the first month
    starts from the cash); a year's total is compounded the same way, from the previous year's
    last equity. Months without bars are null. {"years": [{"year", "months": [12], "total"}]}.
    """
    ts = np.asarray(ts_ms, dtype="datetime64[ms]")
    values = np.asarray(equity, dtype=np.float64)
    if not len(ts):
        return {"years": []}
    months = ts.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    last = np.flatnonzero(np.append(months[1:] != months[:-1], True))  # last bar of each month
    years: dict[int, dict] = {}
    previous, year_start = cash, cash
    for i in last.tolist():
        year, month = divmod(int(months[i]), 12)
        year += 1970
        if year not in years:
            year_start = previous
            years[year] = {"year": year, "months": [None] * 12, "total": None}
        end = float(values[i])
        row = years[year]
        row["months"][month] = _pct(end, previous)
        row["total"] = _pct(end, year_start)
        previous = end
    return {"years": list(years.values())}


def _pct(end: float, start: float):
    if not start or not np.isfinite(end) or not np.isfinite(start):
        return None
    return round((end / start - 1) * 100, 6)


def _backtest_warnings(run: BacktestRun, candles, strategy, instrument) -> list[str]:
    """What makes the result easy to misread, in words: tradecore's own input warnings (a
    period shorter than the warm-up, bars without volume) and holes in the stored history."""
    warnings, total = [], len(candles)
    step = TIMEFRAMES_MS[run.timeframe]
    expected = -(-(dt_to_ms(run.end) - dt_to_ms(run.start)) // step)
    holes = np.diff(candles.ts) // step - 1
    gaps, inside = int(np.count_nonzero(holes > 0)), int(holes[holes > 0].sum())
    if expected > total:
        outside = max(expected - total - inside, 0)
        warnings.append(
            f"{expected - total} of the period's {expected} bars are not stored: {inside} in "
            f"{gaps} gap(s) inside the data, {outside} before its first or after its last bar; "
            "the strategy sees the market jump across gaps"
        )
        ranges = missing_ranges(
            candles.ts, start_ms=dt_to_ms(run.start), end_ms=dt_to_ms(run.end), step=step
        )
        warnings.append(gaps_words(ranges, step))
    return warnings + check_inputs(strategy, candles, instrument, cash=run.cash)


GAPS_LISTED = 10


def _stamp(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, tz=UTC):%Y-%m-%d %H:%M}"


def gaps_words(gaps: list[Gap], step: int) -> str:
    """The missing ranges in words: "Still missing: 2021-04-20 00:00 → 00:04 UTC (5 bars); …"."""
    parts = []
    for gap in gaps[:GAPS_LISTED]:
        first, last = _stamp(gap.start_ms), _stamp(gap.end_ms)
        if first[:10] == last[:10]:
            last = last[11:]
        span = first if gap.missing == 1 else f"{first} → {last}"
        parts.append(f"{span} UTC ({gap.missing:,} bar{'s' if gap.missing != 1 else ''})")
    more = len(gaps) - GAPS_LISTED
    tail = f"; and {more} more range(s) ({sum(g.missing for g in gaps[GAPS_LISTED:]):,} bars)"
    return "Still missing: " + "; ".join(parts) + (tail if more > 0 else "")


def gaps_json(run: BacktestRun, candles) -> list[dict]:
    """The period's missing ranges as stored with the results: [{start_ms, end_ms, bars}]."""
    ranges = missing_ranges(
        candles.ts, start_ms=dt_to_ms(run.start), end_ms=dt_to_ms(run.end),
        step=TIMEFRAMES_MS[run.timeframe],
    )  # fmt: skip
    return [{"start_ms": g.start_ms, "end_ms": g.end_ms, "bars": g.missing} for g in ranges]


PROGRESS_MIN_BARS = 1000  # a report (one UPDATE) at most every 1% and every 1,000 bars


def backtest_run_progress(*, run_id: int, done: int) -> None:
    """Record bars processed; raise BacktestCancelled if the owner asked the run to stop.
    One statement (a report every 1% of a long run): the update returns the cancel flag."""
    table = BacktestRun._meta.db_table  # a constant; the values are bound parameters
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET bars_done = %s WHERE id = %s RETURNING cancel_requested",  # noqa: S608
            [done, run_id],
        )
        row = cursor.fetchone()
    if row is not None and row[0]:
        raise BacktestCancelled


@cache
def code_version() -> str:
    """The engine's version and, in a git checkout, `git describe` of the code."""
    version = f"tradecore {tradecore_version}"
    try:
        described = subprocess.run(  # noqa: S603
            ["git", "describe", "--always", "--dirty"],  # noqa: S607
            cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version} ({described})" if described else version
