"""Backtest pages: the user's runs with a "New backtest" form, and one run's page with its
progress (pushed over the run's websocket until the run ends), chart, equity, metrics and trades.

Views fetch through selectors and change through services; the form goes through the same
`backtest_run_create` as the API, so the page shows the service's field errors.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from marketdata.tickfiles import tick_sources
from marketdata.timeframes import TIMEFRAMES_MS
from strategies import selectors
from strategies.compare import compare_runs
from strategies.forms import ParamField, field_name, params_from_post, schema_fields
from strategies.models import BacktestRun
from strategies.services import (
    BACKTEST_FAMILIES,
    DEFAULT_FEE_RATE,
    backtest_inputs_validate,
    backtest_paper_bot_create,
    backtest_run_cancel,
)
from strategies.services import backtest_run_create as create_run
from strategies.tick_backtests import TICK_TIMEFRAMES

TRADES_PER_PAGE = 200  # rows of the trade list on one page; the CSV has every trade
CHART_MARKERS = 5000  # fill markers drawn on the chart at most (more cannot be told apart)


def _backtest_strategies() -> list:
    # market makers backtest on the trades and book data sources
    families = (*BACKTEST_FAMILIES, "market_making")
    return [e for e in selectors.strategy_catalog() if e.family in families]


def _form_defaults(markets) -> dict:
    """Start on the first stored market, over its whole span."""
    values = {"strategy": "sma_cross", "cash": "10000", "fee_rate": "",
              "slippage_bp": "0", "timeframe": "1m", "data_source": "candles",
              "slippage_model": "none", "latency_ms": "0"}  # fmt: skip
    if markets:
        first = markets[0]
        values.update(
            market=f"{first.exchange}|{first.symbol}", timeframe=first.timeframe,
            start=f"{first.first:%Y-%m-%d}", end=f"{first.last + timedelta(days=1):%Y-%m-%d}",
        )  # fmt: skip
    return values


def _param_fields(strategy: str) -> list[ParamField]:
    entry = next((e for e in _backtest_strategies() if e.id == strategy), None)
    return schema_fields(entry.id, entry.schema) if entry else []


def _create_from_post(request) -> BacktestRun:
    """Create the run from the form: the parameters come from the chosen strategy's fields
    (generated from its schema); a value not of its field's type is refused with the rest."""
    data = request.POST
    exchange, _, symbol = data.get("market", "").partition("|")
    strategy = data.get("strategy", "")
    params, type_errors = params_from_post(strategy, _param_fields(strategy), data)
    inputs = {
        "strategy": strategy, "params": params, "exchange": exchange, "symbol": symbol,
        "timeframe": data.get("timeframe", ""), "start": data.get("start", ""),
        "end": data.get("end", ""), "cash": data.get("cash", ""),
        "fee_rate": data.get("fee_rate") or None, "slippage_bp": data.get("slippage_bp") or 0,
        "data_source": data.get("data_source") or "candles",
        "slippage_model": data.get("slippage_model") or None,
        "latency_ms": data.get("latency_ms") or 0,
    }  # fmt: skip
    if type_errors:  # the service checks the rest, so one answer names every bad field
        try:
            backtest_inputs_validate(**inputs)
        except ValidationError as exc:
            type_errors = {**exc.message_dict, **type_errors}
        raise ValidationError(type_errors)
    return create_run(user=request.user, **inputs)


def _form_errors(exc: ValidationError, strategy: str) -> dict[str, str]:
    """The service's errors by form field: `params.<name>` goes to that parameter's field of
    the chosen strategy, exchange and symbol to the market."""
    errors: dict[str, list[str]] = {}
    for name, problems in exc.message_dict.items():
        if name.startswith("params."):
            field = field_name(strategy, name.removeprefix("params."))
        else:
            field = "market" if name in ("exchange", "symbol") else name
        errors.setdefault(field, []).extend(problems)
    return {name: " ".join(problems) for name, problems in errors.items()}


def _param_sets(values: dict, errors: dict) -> list[dict]:
    """Each backtestable strategy's parameter fields with their posted value and error."""
    sets = []
    for entry in _backtest_strategies():
        fields = [
            {
                "field": f,
                "value": values.get(f.html_name, f.default_text),  # the default until posted
                "error": errors.get(f.html_name),
            }
            for f in schema_fields(entry.id, entry.schema)
        ]
        sets.append({"entry": entry, "fields": fields})
    return sets


@login_required
@require_http_methods(["GET", "POST"])
def backtest_list(request):
    """The user's backtests with status and key metrics; POST starts a new one."""
    markets = selectors.backtest_market_list()
    values, errors, status = _form_defaults(markets), {}, 200
    if request.method == "POST":
        try:
            run = _create_from_post(request)
        except ValidationError as exc:
            values, status = request.POST.dict(), 400
            errors = _form_errors(exc, request.POST.get("strategy", ""))
        else:
            messages.success(request, "Backtest queued: a worker runs it now.")
            return redirect("strategies:backtest-detail", id=run.pk)
    runs = list(selectors.backtest_run_list(user=request.user))
    context = {
        "rows": [(run, _summary(run.metrics)) for run in runs],
        "any_active": any(not run.is_final for run in runs),
        "markets": markets,
        "fetchable": selectors.backtest_fetchable_markets(stored=markets),
        "strategies": _backtest_strategies(),
        "timeframes": list(TICK_TIMEFRAMES),
        "tick_sources": tick_sources(),
        "tick_markets": _tick_markets(markets),
        "data_sources": BacktestRun.DataSource.choices,
        "slippage_models": BacktestRun.Slippage.choices,
        "values": values,
        "field_errors": errors,
        "param_sets": _param_sets(values, errors),
        "default_fee": DEFAULT_FEE_RATE,
    }
    return render(request, "strategies/backtest_list.html", context, status=status)


def _percent(value) -> str:
    return f"{value * 100:.2f}%" if isinstance(value, int | float) else str(value)


def _number(value, places=2) -> str:
    return f"{value:,.{places}f}" if isinstance(value, int | float) else str(value)


def _duration(ms) -> str:
    if not isinstance(ms, int | float) or ms <= 0:
        return "–"
    minutes = int(ms // 60_000)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min"]
    return " ".join(p for p in parts if p) if (days or hours or minutes) else "< 1 min"


def _summary(metrics: dict | None) -> dict | None:
    """The list's key figures of a finished run."""
    if not metrics:
        return None
    return {
        "total_return": _percent(metrics.get("total_return")),
        "positive": isinstance(metrics.get("total_return"), float) and metrics["total_return"] > 0,
        "sharpe": _number(metrics.get("sharpe")),
        "max_drawdown": _percent(metrics.get("max_drawdown")),
        "trades": metrics.get("trade_count", 0),
    }


CAGR_MIN_DAYS = 90  # a shorter period's annualized growth is noise blown up (-100% in 3 days)


def metrics_rows(metrics: dict, days: float | None = None) -> list[tuple[str, str]]:
    """The metrics table: label and formatted value, in reading order. Over fewer than
    CAGR_MIN_DAYS days the CAGR is left out, saying why."""
    m = metrics
    short = days is not None and days < CAGR_MIN_DAYS
    return [
        ("Total return", _percent(m.get("total_return"))),
        ("CAGR", f"– (under {CAGR_MIN_DAYS} days)" if short else _percent(m.get("cagr"))),
        ("Sharpe ratio", _number(m.get("sharpe"))),
        ("Sortino ratio", _number(m.get("sortino"))),
        ("Max drawdown", _percent(m.get("max_drawdown"))),
        ("Max drawdown duration", _duration(m.get("max_drawdown_duration_ms"))),
        ("Win rate", _percent(m.get("win_rate"))),
        (
            "Profit factor",
            "∞" if m.get("profit_factor") == "inf" else _number(m.get("profit_factor")),
        ),
        ("Exposure", _percent(m.get("exposure"))),
        ("Fees paid", _number(m.get("fees_paid"))),
        ("Turnover", f"{_number(m.get('turnover'))}×"),
        ("Trades", str(m.get("trade_count", 0))),
        ("Final equity", _number(m.get("final_equity"))),
    ]


def _tick_markets(stored) -> list[tuple[str, str]]:
    """Markets with trades or book files but no stored candles (for the trades/book sources)."""
    have = {(m.exchange, m.symbol) for m in stored}
    seen = dict.fromkeys((s.exchange, s.symbol) for s in tick_sources())
    return [market for market in seen if market not in have]


def _time(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _cell(value) -> dict:
    if not isinstance(value, int | float):
        return {"text": "", "sign": ""}
    return {"text": f"{value:.2f}%", "sign": "pos" if value > 0 else "neg" if value < 0 else ""}


def monthly_rows(monthly: dict | None) -> list[dict]:
    """The year × month grid of returns in % (empty for runs stored before it existed)."""
    return [
        {"year": y["year"], "months": [_cell(v) for v in y["months"]], "total": _cell(y["total"])}
        for y in (monthly or {}).get("years", [])
    ]


def _chart_markers(markers: list[dict]) -> list[dict]:
    """The fill markers to draw: all of them up to CHART_MARKERS, else the first buy and the
    first sell on each chart bar (a long run merges many fills into each bar)."""
    if len(markers) <= CHART_MARKERS:
        return markers
    seen: set = set()
    kept = []
    for marker in markers:
        key = (marker["time"], marker["side"])
        if key not in seen:
            seen.add(key)
            kept.append(marker)
    return kept


def _trades_page(value) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def _detail_context(run: BacktestRun, results=None, *, trades_page: int = 1) -> dict:
    """The page of a run; `results` as `selectors.backtest_run_page_get_for_user` gives them
    (the page's trades only), else they are cut from the run's own."""
    context = {"run": run, "polling": not run.is_final, "chart_id": f"backtest-data-{run.pk}"}
    if not run.is_final:
        phase = "queued" if run.status == BacktestRun.Status.QUEUED else "replaying"
        context["progress"] = {
            "phase": phase if run.bars_total or phase == "queued" else "starting",
            "bars_done": run.bars_done, "bars_total": run.bars_total,
            "percent": run.progress_percent,
        }  # fmt: skip
    if run.status != BacktestRun.Status.DONE:
        results = None
    elif results is None and run.results:
        first = (trades_page - 1) * TRADES_PER_PAGE
        results = {**run.results, "trades": run.results["trades"][first : first + TRADES_PER_PAGE],
                   "trade_count": len(run.results["trades"])}  # fmt: skip
    if results:
        trades = [
            {**t, "entry_time": _time(t["entry_ts"]), "exit_time": _time(t["exit_ts"]),
             "return_percent": _percent(t["return"]), "positive": not t["pnl"].startswith("-")}
            for t in results["trades"]
        ]  # fmt: skip
        total = results["trade_count"]
        first = (trades_page - 1) * TRADES_PER_PAGE
        context.update(
            metrics=metrics_rows(results["metrics"], (run.end - run.start).total_seconds() / 86400),
            trades=trades,
            trade_pages={
                "first": first + 1, "last": first + len(trades), "total": total,
                "previous": trades_page - 1 if trades_page > 1 else None,
                "next": trades_page + 1 if first + len(trades) < total else None,
            } if total > TRADES_PER_PAGE else None,
            monthly=monthly_rows(results.get("monthly_returns")),
            month_names=MONTHS,
            chart_data={
                "bars": results["chart"]["bars"],
                "markers": _chart_markers(results["markers"]),
                "equity": results["equity"]["points"],
                "indicators": results.get("indicators", {}),
                "inventory": results.get("inventory", []),
            },
            execution=results.get("execution"),
        )  # fmt: skip
    return context


def _run_page(user, id, page: int):  # noqa: A002
    return selectors.backtest_run_page_get_for_user(
        user=user, id=id, trades_from=(page - 1) * TRADES_PER_PAGE, trades_count=TRADES_PER_PAGE
    )


@login_required
def backtest_detail(request, id):  # noqa: A002
    """One run: progress while it runs (pushed over its websocket), then its results (the page
    loads the partial, an HTMX request, when the socket says the run ended)."""
    page = _trades_page(request.GET.get("trades_page"))
    run, results = _run_page(request.user, id, page)
    if results and not results["trades"] and results["trade_count"]:  # past the last page
        page = -(-results["trade_count"] // TRADES_PER_PAGE)
        run, results = _run_page(request.user, id, page)
    context = _detail_context(run, results, trades_page=page)
    if request.htmx:
        return render(request, "strategies/_backtest_run.html", context)
    return render(request, "strategies/backtest_detail.html", context)


@login_required
@require_POST
def backtest_cancel(request, id):  # noqa: A002
    """Cancel the run (queued: at once; running: at its next progress report)."""
    run = selectors.backtest_run_get_for_user(user=request.user, id=id)
    try:
        backtest_run_cancel(run=run)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Cancelling the backtest.")
    if request.htmx:
        run.refresh_from_db()
        return render(request, "strategies/_backtest_run.html", _detail_context(run))
    return redirect("strategies:backtest-detail", id=run.pk)


@login_required
@require_POST
def backtest_paper_bot(request, id):  # noqa: A002
    """Create a draft paper bot from the finished run and open its page (the user starts it)."""
    run = selectors.backtest_run_get_for_user(user=request.user, id=id)
    try:
        bot = backtest_paper_bot_create(run=run, name=request.POST.get("name", "").strip())
    except ValidationError as exc:
        messages.error(request, "No paper bot created: " + " ".join(exc.messages))
        return redirect("strategies:backtest-detail", id=run.pk)
    messages.success(request, "Paper bot created as a draft: check it and start it.")
    return redirect("trading:bot-detail", id=bot.pk)


COMPARE_COLORS = ("#1f6feb", "#d9822b", "#2da44e", "#8957e5", "#cf222e", "#0a7ea4", "#9a6700",
                  "#6e7781")  # fmt: skip


def _pct_points(value) -> str:
    return f"{value * 100:+.2f} pp" if isinstance(value, int | float) else "–"


def _days(run: dict) -> float:
    start, end = (datetime.fromisoformat(run[k]) for k in ("start", "end"))
    return (end - start).total_seconds() / 86400


def _compare_context(comparison: dict) -> dict:
    """The compare page's tables: metrics by run, the significance of each run against the
    benchmark, and the chart's JSON."""
    runs = comparison["runs"]
    by_run = [dict(metrics_rows(run["metrics"], _days(run))) for run in runs]
    labels = [label for label, _ in metrics_rows(runs[0]["metrics"])]
    pairs = []
    for pair in comparison["pairs"]:
        s_low, s_high = pair["sharpe_ci"]
        r_low, r_high = pair["return_ci"]
        pairs.append({
            "run": pair["run"], "against": pair["against"], "identical": pair["identical"],
            "sharpe_diff": f"{pair['sharpe_diff']:+.2f}",
            "sharpe_ci": f"{s_low:+.2f} to {s_high:+.2f}",
            "sharpe_p": f"{pair['sharpe_p']:.3f}", "sharpe_sig": pair["sharpe_p"] < 0.05,
            "return_diff": _pct_points(pair["return_diff"]),
            "return_ci": f"{_pct_points(r_low)} to {_pct_points(r_high)}",
            "return_p": f"{pair['return_p']:.3f}", "return_sig": pair["return_p"] < 0.05,
            "block_size": pair["block_size"],
        })  # fmt: skip
    colors = [COMPARE_COLORS[i % len(COMPARE_COLORS)] for i in range(len(runs))]
    return {
        "comparison": comparison,
        "period_text": _duration(comparison.get("period_ms")),
        "runs": [{**run, "color": color} for run, color in zip(runs, colors, strict=True)],
        "metric_rows": [(label, [m.get(label, "–") for m in by_run]) for label in labels],
        "pairs": pairs,
        "chart_data": {
            "curves": comparison["curves"],
            "names": [f"#{run['id']} {run['strategy']}" for run in runs],
            "colors": colors,
        },
    }


@login_required
def backtest_compare(request):
    """2 to 8 of the user's finished runs side by side (?ids=3,5 or ids=3&ids=5; the first is
    the benchmark): metrics, equity as return over time, and whether the difference is luck."""
    try:
        ids = selectors.backtest_run_ids_parse(request.GET.getlist("ids"))
    except ValueError as exc:
        context, status = {"error": str(exc)}, 400
    else:
        runs = selectors.backtest_runs_get_for_user(user=request.user, ids=ids)  # 404: not yours
        try:
            context, status = _compare_context(compare_runs(runs)), 200
        except ValidationError as exc:
            context, status = {"error": " ".join(exc.messages)}, 400
    context["chart_id"] = "backtest-compare-data"
    return render(request, "strategies/backtest_compare.html", context, status=status)


# -- optimization ------------------------------------------------------------------------------
def _optimizable() -> list:
    from tradecore.strategies import REGISTRY
    from tradecore.strategies.base import SignalStrategy

    return [e for e in _backtest_strategies() if issubclass(REGISTRY[e.id], SignalStrategy)]


def _space_sets(values: dict, errors: dict) -> list[dict]:
    """Per strategy, its numeric parameters as min / max / step rows of the search space."""
    sets = []
    for entry in _optimizable():
        rows = []
        for f in schema_fields(entry.id, entry.schema):
            if f.kind not in ("integer", "number"):
                continue
            name = f"space-{entry.id}-{f.name}"
            rows.append({
                "field": f, "name": name,
                "min": values.get(f"{name}-min", ""), "max": values.get(f"{name}-max", ""),
                "step": values.get(f"{name}-step", ""), "error": errors.get(name),
            })  # fmt: skip
        sets.append({"entry": entry, "rows": rows})
    return sets


def _space_from_post(strategy: str, data) -> tuple[dict, dict]:
    space, errors = {}, {}
    entry = next((e for e in _optimizable() if e.id == strategy), None)
    for f in schema_fields(entry.id, entry.schema) if entry else []:
        name = f"space-{strategy}-{f.name}"
        low, high = data.get(f"{name}-min", "").strip(), data.get(f"{name}-max", "").strip()
        step = data.get(f"{name}-step", "").strip()
        if not (low or high):
            continue
        if not (low and high):
            errors[f"space.{f.name}"] = "Give both the lowest and the highest value."
            continue
        space[f.name] = {"min": low, "max": high, "step": step or ("1" if f.kind == "integer"
                                                                   else "")}  # fmt: skip
    if not space and not errors:
        errors["space"] = "Give a range (lowest and highest) for at least one parameter."
    return space, errors


OPTIMIZATION_OPTIONS = ("trials", "folds", "ratio", "min_folds", "min_profitable_share",
                        "max_drawdown")  # fmt: skip


def _optimization_from_post(request):
    from strategies.optimizations import optimization_create

    data = request.POST
    exchange, _, symbol = data.get("market", "").partition("|")
    strategy = data.get("strategy", "")
    params, errors = params_from_post(strategy, _param_fields(strategy), data)
    space, space_errors = _space_from_post(strategy, data)
    errors.update(space_errors)
    options = {name: data.get(name, "").strip() for name in OPTIMIZATION_OPTIONS}
    for name in ("max_drawdown", "min_profitable_share"):  # the form takes percentages
        if options[name]:
            try:
                options[name] = str(float(options[name]) / 100)
            except ValueError:
                errors[f"options.{name}"] = "Enter a number (a percentage)."
    inputs = {
        "strategy": strategy, "params": params, "space": space or {"_": []},
        "method": data.get("method", ""), "objective": data.get("objective", ""),
        "options": {k: v for k, v in options.items() if v}, "exchange": exchange,
        "symbol": symbol, "timeframe": data.get("timeframe", ""), "start": data.get("start", ""),
        "end": data.get("end", ""), "cash": data.get("cash", ""),
        "fee_rate": data.get("fee_rate") or None,
    }  # fmt: skip
    try:
        with transaction.atomic():
            run = optimization_create(user=request.user, **inputs)
            if errors:  # the service's checks ran too, so one answer names every bad field
                transaction.set_rollback(True)
    except ValidationError as exc:
        service = exc.message_dict
        if space_errors:
            service = {k: v for k, v in service.items() if not k.startswith("space")}
        raise ValidationError({**service, **errors}) from None
    if errors:
        raise ValidationError(errors)
    return run


def _optimization_errors(exc: ValidationError, strategy: str) -> dict[str, str]:
    errors: dict[str, list[str]] = {}
    for name, problems in exc.message_dict.items():
        if name.startswith("params."):
            field = field_name(strategy, name.removeprefix("params."))
        elif name.startswith("space."):
            field = f"space-{strategy}-{name.removeprefix('space.')}"
        elif name.startswith("options."):
            field = name.removeprefix("options.")
        else:
            field = "market" if name in ("exchange", "symbol") else name
        errors.setdefault(field, []).extend(problems)
    return {name: " ".join(problems) for name, problems in errors.items()}


@login_required
@require_http_methods(["GET", "POST"])
def optimization_list(request):
    """The user's parameter searches; POST queues a new one (grid, TPE or walk-forward)."""
    from strategies.models import Optimization

    markets = selectors.backtest_market_list()
    values = {
        **_form_defaults(markets), "method": "grid", "objective": "sharpe", "trials": "100",
        "folds": "5", "ratio": "3", "min_profitable_share": "50", "max_drawdown": "",
    }  # fmt: skip
    errors, status = {}, 200
    if request.method == "POST":
        try:
            run = _optimization_from_post(request)
        except ValidationError as exc:
            values, status = request.POST.dict(), 400
            errors = _optimization_errors(exc, request.POST.get("strategy", ""))
        else:
            messages.success(request, "Optimization queued: a backtest worker runs it now.")
            return redirect("strategies:optimization-detail", id=run.pk)
    runs = list(selectors.optimization_list(user=request.user))
    context = {
        "runs": runs,
        "any_active": any(not run.is_final for run in runs),
        "markets": markets,
        "strategies": _optimizable(),
        "timeframes": list(TIMEFRAMES_MS),
        "methods": Optimization.Method.choices,
        "objectives": Optimization.Objective.choices,
        "values": values,
        "field_errors": errors,
        "param_sets": [
            s
            for s in _param_sets(values, errors)
            if s["entry"].id in {e.id for e in _optimizable()}
        ],  # fmt: skip
        "space_sets": _space_sets(values, errors),
        "default_fee": DEFAULT_FEE_RATE,
    }
    return render(request, "strategies/optimization_list.html", context, status=status)


def _shade_rows(heat: dict) -> list[dict]:
    """The heatmap's rows: each cell's text, its shade by rank (0 worst .. 1 best: one outlier
    does not wash the others out) and why it is empty."""
    scores = sorted({v for row in heat["cells"] for v in row if v is not None})
    rank = {v: (i / (len(scores) - 1) if len(scores) > 1 else 0.5) for i, v in enumerate(scores)}
    best = scores[-1] if scores else None
    rows = []
    for y, cells, reasons in zip(heat["ys"], heat["cells"], heat["reasons"], strict=True):
        row = []
        for value, reason in zip(cells, reasons, strict=True):
            shade = "" if value is None else f"{rank[value]:.3f}"
            row.append({"text": "" if value is None else f"{value:.2f}", "shade": shade,
                        "reason": reason, "best": value is not None and value == best})  # fmt: skip
        rows.append({"y": y, "cells": row})
    return rows


def edge_notes(space: dict, best: dict | None) -> list[str]:
    """A warning for each searched parameter whose best value sits at the end of its range:
    the optimum may lie beyond what was searched."""
    notes = []
    for name, values in space.items():
        if best is None or len(values) < 3 or name not in best["params"]:
            continue
        value = best["params"][name]
        if value in (min(values), max(values)):
            end = "highest" if value == max(values) else "lowest"
            notes.append(
                f"The best {name} ({value}) is the {end} value searched: the optimum may lie "
                f"beyond the range; widen it before trusting this result."
            )
    return notes


def _optimization_context(run) -> dict:
    context = {"run": run, "polling": not run.is_final}
    results = run.results if run.status == "done" else None
    if not results:
        return context
    percent = run.objective != "sharpe"
    context["score_label"] = dict(run.Objective.choices)[run.objective]
    context["percent"] = percent
    if results.get("heatmap"):
        heat = results["heatmap"]
        context["heatmap"] = {**heat, "rows": _shade_rows(heat)}
        if percent:  # returns are fractions: show them as percentages
            for row in context["heatmap"]["rows"]:
                for cell in row["cells"]:
                    if cell["text"]:
                        cell["text"] = f"{float(cell['text']) * 100:.1f}%"
    context["top"] = results.get("top", [])[:20]
    context["edge_notes"] = edge_notes(run.space, results.get("best"))
    best = results.get("best")
    if best and isinstance(best.get("total_return"), float) and best["total_return"] <= 0:
        context["edge_notes"].insert(0, (
            f"No combination made money over this period (the best returned "
            f"{best['total_return'] * 100:.2f}% after fees): the strategy shows no edge here."
        ))  # fmt: skip
    context["skipped"] = results.get("skipped", [])
    wf = results.get("walk_forward")
    if wf:
        context["walk_forward"] = wf
        if wf["folds"] and all(f["in_sample_return"] <= 0 for f in wf["folds"]):
            context["edge_notes"] = [
                "Not even in sample did any combination make money: the strategy shows no "
                "edge on this market and period."
            ]
        points = wf["stitched"]["points"]
        curve = [[p[0], (p[1] / points[0][1] - 1) * 100] for p in points]
        context["chart_data"] = {
            "curves": [curve], "names": ["out-of-sample, stitched"], "colors": ["#1f6feb"],
        }  # fmt: skip
    return context


@login_required
def optimization_detail(request, id):  # noqa: A002
    """One search: its progress while it runs (the page refreshes itself), then the heatmap,
    the best combinations, or the walk-forward folds, gates and warning."""
    run = selectors.optimization_get_for_user(user=request.user, id=id)
    context = _optimization_context(run)
    if request.htmx:
        return render(request, "strategies/_optimization_run.html", context)
    return render(request, "strategies/optimization_detail.html", context)


@login_required
@require_POST
def optimization_cancel(request, id):  # noqa: A002
    from strategies.optimizations import optimization_cancel as cancel

    run = selectors.optimization_get_for_user(user=request.user, id=id)
    try:
        cancel(run=run)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Cancelling the optimization.")
    return redirect("strategies:optimization-detail", id=run.pk)


# -- config files ------------------------------------------------------------------------------
def _json_download(data: dict, filename: str) -> HttpResponse:
    body = json.dumps(data, indent=2, sort_keys=False) + "\n"
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:60] or "config"


@login_required
@require_http_methods(["GET", "POST"])
def config_files(request):
    """The user's strategy configs and bots with a JSON export each; POST imports a file
    (either kind) after validating every field, naming the bad ones."""
    from strategies.config_files import config_import, file_parse
    from trading.selectors import bot_list

    errors, status = {}, 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise ValidationError({"file": "Choose a JSON file to import."})
            data = file_parse(upload.read(MAX_IMPORT_BYTES + 1))
            kind, obj, notes = config_import(
                user=request.user, data=data, name=request.POST.get("name", "").strip()
            )
        except ValidationError as exc:
            errors, status = {k: " ".join(v) for k, v in exc.message_dict.items()}, 400
        else:
            for note in notes:
                messages.warning(request, note)
            if kind == "bot":
                messages.success(request, f"Bot “{obj.name}” imported as a paper draft.")
                return redirect("trading:bot-detail", id=obj.pk)
            messages.success(request, f"Strategy config “{obj.name}” imported.")
            return redirect("strategies:config-files")
    context = {
        "configs": list(selectors.strategy_config_list(user=request.user)),
        "bots": list(bot_list(user=request.user)),
        "import_errors": errors,
    }
    return render(request, "strategies/config_files.html", context, status=status)


MAX_IMPORT_BYTES = 256 * 1024


@login_required
def strategy_config_export_file(request, id):  # noqa: A002
    from strategies.config_files import strategy_config_export

    config = selectors.strategy_config_get_for_user(user=request.user, id=id)
    return _json_download(strategy_config_export(config), f"strategy-{_slug(config.name)}.json")


@login_required
def bot_config_export_file(request, id):  # noqa: A002
    from strategies.config_files import bot_config_export
    from trading.selectors import bot_get_for_user

    bot = bot_get_for_user(user=request.user, id=id)
    return _json_download(bot_config_export(bot), f"bot-{_slug(bot.name)}.json")


@login_required
def bot_paper_comparison_page(request, id):  # noqa: A002
    """The backtest over the bot's period next to its fills, the difference and its causes."""
    from strategies.paper_compare import bot_paper_comparison, stamp
    from trading.selectors import bot_get_for_user

    bot = bot_get_for_user(user=request.user, id=id)
    errors: dict = {}
    start = _aware_or_none(request.GET.get("start"), "start", errors)
    end = _aware_or_none(request.GET.get("end"), "end", errors)
    context, status = {"bot": bot}, 200
    try:
        if errors:
            raise ValidationError(errors)
        result = bot_paper_comparison(bot=bot, start=start, end=end)
    except ValidationError as exc:
        context["error"], status = " ".join(exc.messages), 400
    else:
        for pair in result["pairs"]:
            pair["time"] = stamp(pair["ts"])
        for fill in result["missed_fills"] + result["extra_fills"]:
            fill["time"] = stamp(fill["ts"])
        context.update(result=result, start=stamp(result["start_ms"]), end=stamp(result["end_ms"]))
    return render(request, "strategies/bot_paper_comparison.html", context, status=status)


def _aware_or_none(value, field, errors):
    from strategies.services import _aware

    return _aware(errors, field, value) if value else None
