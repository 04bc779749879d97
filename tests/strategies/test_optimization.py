"""Parameter optimization: the vectorized evaluation agrees with tradecore's paths, the grid
reports what it cannot run and maps two parameters to a heatmap, Optuna's TPE is seeded,
walk-forward folds tile the series with gates and an overfitting warning; the worker task runs
it with progress; pages and API are owner-scoped and in the OpenAPI schema."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from strategies import optimizations, optimize
from strategies.models import Optimization
from strategies.optimizations import optimization_cancel, optimization_create, optimization_execute
from tests.strategies.test_backtests import _form, _inputs
from tradecore.backtest.data import CandleArrays
from tradecore.backtest.vectorized import quick_result, run_vectorized
from tradecore.domain import Instrument
from tradecore.strategies import REGISTRY

SMA = REGISTRY["sma_cross"]


def _evaluator(candles, objective="return", fee=0.001, max_drawdown=None):
    return optimize.Evaluator(SMA, candles, symbol="BTC/USDT", base_params={}, fee=fee,
                              cash=10_000.0, interval_ms=60_000, objective=objective,
                              max_drawdown=max_drawdown)  # fmt: skip


def _sine(n=6000):
    """A price that swings with a 400-bar period on a slow rise: an SMA cross has a real
    edge here, so what it learns in sample holds out of sample."""
    t = np.arange(n)
    close = 100 + 10 * np.sin(2 * np.pi * t / 400) + 0.01 * t
    return CandleArrays(t.astype(np.int64) * 60_000, close, close + 0.05, close - 0.05, close,
                        np.ones(n))  # fmt: skip


def test_the_evaluation_matches_tradecores_vectorized_and_exact_paths(real_candles):
    evaluation = _evaluator(real_candles).evaluate({"fast": 10, "slow": 30}, keep_equity=True)
    strategy = SMA(SMA.config_class(fast=10, slow=30), symbol="BTC/USDT")
    entries, exits = strategy.signals(real_candles.open, real_candles.high, real_candles.low,
                                      real_candles.close, real_candles.volume)  # fmt: skip
    quick = quick_result(entries, exits, real_candles.open, real_candles.close, 0.001, 10_000.0)
    assert evaluation.trades == quick.trade_count > 10
    assert evaluation.total_return == pytest.approx(quick.total_return, rel=1e-12, abs=1e-12)
    fine = Instrument("BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("1e-12"), Decimal(0),
                      Decimal("0.001"), Decimal("0.001"))  # fmt: skip
    exact = run_vectorized(strategy, real_candles, fine, cash=10_000)
    assert np.allclose(evaluation.equity, exact.equity, rtol=1e-9)


def test_a_grid_reports_refused_combinations_and_maps_two_parameters(real_candles):
    space = {"fast": [5, 10, 20, 40], "slow": [10, 20, 30, 60, 90]}
    found = optimize.grid_search(_evaluator(real_candles), space)
    assert len(found["evaluations"]) + len(found["skipped"]) == 20
    refused = {(p["fast"], p["slow"]) for p, _ in found["skipped"]}
    assert refused == {(f, s) for f in space["fast"] for s in space["slow"] if f >= s}
    assert all("fast" in reason for _, reason in found["skipped"])
    results = optimize.search_results(space, found)
    heat = results["heatmap"]
    assert (heat["x"], heat["y"], heat["xs"], heat["ys"]) == ("fast", "slow", space["fast"],
                                                              space["slow"])  # fmt: skip
    assert heat["cells"][0][0] is not None  # slow 10 (row), fast 5 (column)
    assert heat["cells"][0][1] is None and "fast" in heat["reasons"][0][1]  # fast 10, slow 10
    best = max(v for row in heat["cells"] for v in row if v is not None)
    assert results["best"]["score"] == best == results["top"][0]["score"]
    again = _evaluator(real_candles).evaluate(results["best"]["params"])
    assert again.score == best
    assert optimize.heatmap({"fast": [5, 10]}, found["evaluations"], []) is None


def test_a_drawdown_limit_rules_combinations_out(real_candles):
    space = {"fast": [5, 10, 20], "slow": [30, 60]}
    loose = optimize.grid_search(_evaluator(real_candles, "return_dd", max_drawdown=1), space)
    drawdowns = sorted(e.max_drawdown for e in loose["evaluations"])
    limit = drawdowns[len(drawdowns) // 2]
    tight = optimize.grid_search(_evaluator(real_candles, "return_dd", max_drawdown=limit), space)
    for e in tight["evaluations"]:
        assert (e.score is None) == (e.max_drawdown > limit)
    assert tight["best"].max_drawdown <= limit


def test_tpe_is_seeded_and_lands_on_combinations_the_grid_scores_the_same(real_candles):
    space = {"fast": list(range(2, 40, 2)), "slow": list(range(10, 200, 10))}
    first = optimize.tpe_search(_evaluator(real_candles, "sharpe"), space, 40)
    second = optimize.tpe_search(_evaluator(real_candles, "sharpe"), space, 40)
    assert first["best"].row() == second["best"].row()
    assert 0 < len(first["evaluations"]) <= 40
    grid = optimize.grid_search(_evaluator(real_candles, "sharpe"), space)
    scores = {tuple(e.params.values()): e.score for e in grid["evaluations"]}
    assert first["best"].score == scores[tuple(first["best"].params.values())]
    assert first["best"].score <= grid["best"].score


def test_walk_forward_folds_tile_the_end_of_the_series():
    plan = optimize.folds_plan(1000, 4, 3.0)
    oos = 1000 // 7  # 142 bars out of sample, 426 in sample
    assert [c - b for _, b, c in plan] == [oos] * 4 and plan[-1][2] == 1000
    assert all(b - a == oos * 3 for a, b, _ in plan)
    assert all(plan[k][2] == plan[k + 1][1] for k in range(3))  # out-of-sample windows tile
    assert optimize.folds_plan(10, 5, 3.0) == []


def test_walk_forward_on_a_real_edge_passes_its_gates_without_warning():
    evaluator = _evaluator(_sine(), fee=0.0)
    result = optimize.walk_forward(
        evaluator, {"fast": [5, 10, 20], "slow": [40, 80, 160]}, folds=4, ratio=3, trials=20,
        gates={"min_folds": 4, "min_profitable_share": 0.75, "max_drawdown": 0.3},
    )  # fmt: skip
    assert len(result["folds"]) == 4 and result["profitable_share"] == 1.0
    assert result["passed"] and result["warning"] == "" and result["efficiency"] > 0.5
    stitched = result["stitched"]
    total = np.prod([1 + f["out_of_sample_return"] for f in result["folds"]]) - 1
    assert stitched["total_return"] == pytest.approx(total, rel=1e-9)
    assert stitched["points"][0][1] == 10_000.0
    strict = optimize.walk_forward(
        evaluator, {"fast": [5, 10], "slow": [40, 80]}, folds=4, ratio=3, trials=20,
        gates={"min_folds": 6, "min_profitable_share": 1.0, "max_drawdown": 0.0001},
    )  # fmt: skip
    failed = {g["gate"] for g in strict["gates"] if not g["passed"]}
    assert failed == {"min_folds", "max_drawdown"} and not strict["passed"]


def test_walk_forward_warns_when_in_sample_is_far_better_than_out_of_sample(real_candles):
    evaluator = _evaluator(real_candles, fee=0.0)
    space = {"fast": list(range(2, 30, 2)), "slow": list(range(10, 120, 10))}
    result = optimize.walk_forward(evaluator, space, folds=4, ratio=3, trials=20, gates={})
    assert all(f["in_sample_return"] > 0 for f in result["folds"])  # fitted: always positive
    assert result["efficiency"] < 0.5
    assert result["warning"].startswith("Overfitting likely: in-sample results are far better")


# -- services ------------------------------------------------------------------------------------
@pytest.fixture
def queued_search(alice, stored, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(optimizations, "_enqueue", sent.append)

    def create(user=alice, **changes):
        inputs = {k: v for k, v in _inputs(stored).items() if k != "slippage_bp"}
        inputs.update(space={"fast": {"min": 5, "max": 20, "step": 5}, "slow": [30, 60]},
                      method="grid", objective="sharpe")  # fmt: skip
        inputs.update(changes)
        with django_capture_on_commit_callbacks(execute=True):
            return optimization_create(user=user, **inputs)

    create.sent = sent
    return create


def _errors(create, **changes) -> dict:
    with pytest.raises(ValidationError) as caught:
        create(**changes)
    return caught.value.message_dict


def test_inputs_are_validated_naming_each_field_and_nothing_is_saved(queued_search):
    errors = _errors(queued_search, space={"fats": [1, 2], "slow": {"min": 0, "max": 5}},
                     method="nope", cash="0")  # fmt: skip
    assert "has no parameter 'fats'" in errors["space.fats"][0]
    assert "less than the minimum of 2" in errors["space.slow"][0]
    assert errors["method"] and errors["cash"]
    grid = _errors(queued_search, space={"fast": list(range(1, 100)), "slow": list(range(2, 100))})
    assert "a grid runs at most 2,500" in grid["space"][0]
    assert "needs the drawdown limit" in _errors(queued_search, objective="return_dd")[
        "options.max_drawdown"][0]  # fmt: skip
    assert "not a signal strategy" in _errors(queued_search, strategy="grid", params={})[
        "strategy"][0]  # fmt: skip
    folds = _errors(queued_search, method="walk_forward", options={"folds": 1})
    assert folds == {"options.folds": ["Enter a number from 2 to 50."]}
    assert not Optimization.objects.exists() and queued_search.sent == []


def test_a_search_runs_in_the_worker_task_with_progress_and_results(queued_search):
    run = queued_search()
    assert run.space == {"fast": [5, 10, 15, 20], "slow": [30, 60]} and queued_search.sent == [
        run.pk]  # fmt: skip
    assert optimization_execute(run_id=run.pk) == "done"
    run.refresh_from_db()
    assert (run.done, run.total, run.progress_percent) == (8, 8, 100)
    assert run.results["evaluated"] == 8 and run.results["heatmap"]["xs"] == [5, 10, 15, 20]
    assert optimization_execute(run_id=run.pk) == "done"  # idempotent
    wf = queued_search(method="walk_forward", options={"folds": 3, "max_drawdown": 0.5})
    assert optimization_execute(run_id=wf.pk) == "done"
    wf.refresh_from_db()
    assert len(wf.results["walk_forward"]["folds"]) == 3 and wf.done == wf.total == 24
    tpe = queued_search(method="tpe", options={"trials": 5})
    assert optimization_execute(run_id=tpe.pk) == "done"
    cancelled = optimization_cancel(run=queued_search())
    assert cancelled.status == "cancelled"
    assert optimization_execute(run_id=cancelled.pk) == "cancelled"


def test_a_search_on_a_period_without_candles_fails_in_words(queued_search):
    run = queued_search(start="2019-01-01", end="2019-01-02")
    assert optimization_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.error.startswith("no candles for BTC/USDT 1m on binance between 2019-01-01")


# -- pages and API -------------------------------------------------------------------------------
def _page_form(stored, **changes):
    form = {k: v for k, v in _form(stored).items() if k != "slippage_bp"}
    form.update({"method": "grid", "objective": "return", "space-sma_cross-fast-min": "5",
                 "space-sma_cross-fast-max": "20", "space-sma_cross-fast-step": "5",
                 "space-sma_cross-slow-min": "30", "space-sma_cross-slow-max": "60",
                 "space-sma_cross-slow-step": "30", "params-sma_cross-fast": "",
                 "params-sma_cross-slow": ""})  # fmt: skip
    form.update(changes)
    return form


def test_the_form_queues_a_search_and_the_page_shows_the_heatmap(
    alice_client, stored, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(optimizations, "_enqueue", sent.append)
    url = reverse("strategies:optimization-list")
    page = alice_client.get(url).content.decode()
    assert 'name="space-sma_cross-fast-min"' in page and 'name="space-bollinger-k-min"' in page
    assert "grid" not in re.findall(r'<option value="(\w+)"', page.split('id="id_strategy"')[1]
                                    .split("</select>")[0])  # fmt: skip
    bad = alice_client.post(url, _page_form(stored, **{"space-sma_cross-slow-max": "",
                                                       "max_drawdown": "x"}))  # fmt: skip
    assert bad.status_code == 400
    html = bad.content.decode()
    assert 'id="id_space-sma_cross-slow-error"' in html and "Give both" in html
    assert not Optimization.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(url, _page_form(stored, max_drawdown="50"))
    run = Optimization.objects.get()
    assert response.status_code == 302 and sent == [run.pk]
    assert run.options["max_drawdown"] == 0.5 and run.space["slow"] == [30, 60]
    detail = reverse("strategies:optimization-detail", args=[run.pk])
    assert f'ws-connect="/ws/optimizations/{run.pk}/"' in alice_client.get(detail).content.decode()
    optimization_execute(run_id=run.pk)
    html = alice_client.get(detail).content.decode()
    assert 'id="optimization-heatmap"' in html and 'class="best"' in html
    assert html.count("data-shade=") == 8 and 'id="optimization-best"' in html


def test_the_api_creates_lists_gets_and_cancels_searches(alice_client, stored, monkeypatch):
    monkeypatch.setattr(optimizations, "_enqueue", lambda run_id: None)
    body = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in _inputs(stored).items() if k != "slippage_bp"}  # fmt: skip
    body.update(space={"fast": [5, 10], "slow": {"min": 30, "max": 90, "step": 30}},
                method="walk_forward", objective="return_dd",
                options={"folds": 3, "max_drawdown": 0.3})  # fmt: skip
    created = alice_client.post("/api/v1/optimizations/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    run_id = created.json()["id"]
    assert alice_client.get("/api/v1/optimizations/").json()[0]["id"] == run_id
    optimization_execute(run_id=run_id)
    got = alice_client.get(f"/api/v1/optimizations/{run_id}/").json()
    assert got["status"] == "done" and len(got["results"]["walk_forward"]["folds"]) == 3
    bad = alice_client.post("/api/v1/optimizations/", {**body, "space": {"nope": [1]}},
                            content_type="application/json")  # fmt: skip
    assert bad.status_code == 400 and "space.nope" in bad.json()["error"]["fields"]
    again = alice_client.post("/api/v1/optimizations/", body, content_type="application/json")
    cancel = alice_client.post(f"/api/v1/optimizations/{again.json()['id']}/cancel/")
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"


def test_searches_are_owner_scoped(queued_search, alice, bob_client, client):
    run = queued_search()
    detail = reverse("strategies:optimization-detail", args=[run.pk])
    assert bob_client.get(detail).status_code == 404
    assert bob_client.post(reverse("strategies:optimization-cancel", args=[run.pk])).status_code \
        == 404  # fmt: skip
    assert bob_client.get(f"/api/v1/optimizations/{run.pk}/").status_code == 404
    assert bob_client.post(f"/api/v1/optimizations/{run.pk}/cancel/").status_code == 404
    assert bob_client.get("/api/v1/optimizations/").json() == []
    listed = bob_client.get(reverse("strategies:optimization-list")).content.decode()
    assert f"#{run.pk}" not in listed
    assert client.get(detail).status_code == 302
    assert client.get("/api/v1/optimizations/").status_code in (401, 403)
    run.refresh_from_db()
    assert run.status == "queued" and not run.cancel_requested


def test_optimizations_are_in_the_openapi_schema(alice_client, db):
    paths = alice_client.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/optimizations/"])
    assert "get" in paths["/api/v1/optimizations/{id}/"]
    assert "post" in paths["/api/v1/optimizations/{id}/cancel/"]


def test_the_heatmap_is_shaded_by_rank_and_an_optimum_at_the_edge_is_flagged():
    from strategies.views import _shade_rows, edge_notes

    heat = {"xs": [1, 2], "ys": [10, 20], "cells": [[-80.0, -3.0], [-2.0, None]],
            "reasons": [["", ""], ["", "fast must be shorter than slow"]]}  # fmt: skip
    rows = _shade_rows(heat)
    assert [[c["shade"] for c in r["cells"]] for r in rows] == [["0.000", "0.500"],
                                                                ["1.000", ""]]  # fmt: skip
    assert rows[1]["cells"][0]["best"] and rows[1]["cells"][1]["reason"]
    space = {"fast": [4, 8, 12], "slow": [20, 30, 40]}
    notes = edge_notes(space, {"params": {"fast": 8, "slow": 40}})
    assert notes == ["The best slow (40) is the highest value searched: the optimum may lie "
                     "beyond the range; widen it before trusting this result."]  # fmt: skip
    assert edge_notes(space, {"params": {"fast": 8, "slow": 30}}) == []
