"""The New backtest form's parameter fields, generated from each strategy's JSON schema (type,
bounds, default, help), with errors on the field that is wrong; and the strategy's indicator
lines (the bot page's own) stored with the results and drawn on the results chart."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from django.urls import reverse

from strategies.backtest_results import chart_indicators, sample_indices
from strategies.forms import params_from_post, schema_fields
from strategies.indicators import indicator_lines
from strategies.models import BacktestRun
from strategies.services import backtest_run_execute
from tests.strategies.test_backtests import _form
from tradecore import indicators as ind
from tradecore.backtest.data import CandleArrays
from tradecore.strategies import REGISTRY


def _fields(strategy):
    return {
        f.name: f for f in schema_fields(strategy, REGISTRY[strategy].config_class.json_schema())
    }


def test_fields_carry_the_schemas_type_bounds_default_and_help():
    sma = _fields("sma_cross")
    assert list(sma) == ["allocation", "fast", "slow"]
    fast = sma["fast"]
    assert (fast.kind, fast.input_type, fast.step, fast.html_min, fast.html_max) == (
        "integer", "number", "1", 1, 10000,
    )  # fmt: skip
    assert fast.default == 10 and fast.html_name == "params-sma_cross-fast"
    assert fast.help_text == "Fast SMA period in bars; 1 to 10000; default 10."
    allocation = sma["allocation"]
    assert allocation.kind == "number" and allocation.step == "any"
    assert allocation.bounds == "above 0, at most 1"
    bollinger = _fields("bollinger")
    assert bollinger["exit_at"].kind == "choice"
    assert bollinger["exit_at"].choices == ("middle", "upper")
    grid = _fields("grid")
    assert grid["lower_price"].kind == "decimal" and grid["lower_price"].input_type == "text"


def test_posted_values_become_typed_params_and_bad_types_name_the_field():
    fields = list(_fields("sma_cross").values())
    params, errors = params_from_post(
        "sma_cross", fields,
        {"params-sma_cross-fast": "12", "params-sma_cross-slow": " ", "params-ema_cross-fast": "3",
         "params-sma_cross-allocation": "0.5"},
    )  # fmt: skip
    assert params == {"fast": 12, "allocation": 0.5} and errors == {}  # empty: the default
    params, errors = params_from_post(
        "sma_cross", fields, {"params-sma_cross-fast": "1.5", "params-sma_cross-slow": "x"}
    )
    assert params == {}
    assert errors == {
        "params.fast": "Enter a whole number (got '1.5').",
        "params.slow": "Enter a whole number (got 'x').",
    }
    choice = list(_fields("bollinger").values())
    _, errors = params_from_post("bollinger", choice, {"params-bollinger-exit_at": "lower"})
    assert errors == {"params.exit_at": "Enter one of the listed choices (got 'lower')."}


def test_the_form_renders_each_strategys_fields_and_shows_only_the_chosen_one(alice_client, db):
    page = alice_client.get(reverse("strategies:backtest-list")).content.decode()
    fast = re.search(r'<input[^>]*name="params-sma_cross-fast"[^>]*>', page).group(0)
    for attr in ('type="number"', 'step="1"', 'min="1"', 'max="10000"', 'value="10"'):
        assert attr in fast, fast
    assert "Fast SMA period in bars; 1 to 10000; default 10." in page
    assert re.search(r'data-strategy-params="sma_cross"(?! hidden)', page)
    assert re.search(r'data-strategy-params="ema_cross" hidden', page)
    assert 'name="params-bollinger-exit_at"' in page and '<option value="upper"' in page
    assert 'name="params"' not in page  # no JSON box any more


def test_posted_fields_run_with_those_params_and_errors_land_on_their_field(
    alice_client, stored, sent
):
    url = reverse("strategies:backtest-list")
    bad = alice_client.post(url, _form(stored, **{"params-sma_cross-fast": "0"}, cash="0"))
    page = bad.content.decode()
    assert bad.status_code == 400
    error = re.search(r'id="id_params-sma_cross-fast-error"[^>]*>([^<]*)<', page).group(1)
    assert "less than the minimum of 1" in error
    assert 'id="id_cash-error"' in page  # the type check and the service's, in one answer
    typed = alice_client.post(url, _form(stored, **{"params-sma_cross-slow": "3.5"}, cash="0"))
    assert "Enter a whole number" in typed.content.decode()
    assert 'id="id_cash-error"' in typed.content.decode()
    assert not BacktestRun.objects.exists() and sent == []
    chosen = _form(stored, **{"params-sma_cross-fast": "5", "params-sma_cross-allocation": "0.5",
                              "params-ema_cross-fast": "999"})  # fmt: skip
    assert alice_client.post(url, chosen).status_code == 302
    assert BacktestRun.objects.get().params == {"fast": 5, "slow": 30, "allocation": 0.5}


def _candles(n=5000, seed=3):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    ts = np.arange(n, dtype=np.int64) * 60_000
    return CandleArrays(ts, close, close * 1.001, close * 0.999, close, np.ones(n))


def test_chart_indicators_are_the_strategys_lines_sampled_at_each_chart_bars_last_bar():
    candles = _candles()
    lines = chart_indicators("sma_cross", {"fast": 7, "slow": 40}, candles, limit=1000)
    assert set(lines) == {"fast", "slow"} and lines["fast"]["pane"] == 0
    slow = ind.sma(candles.close, 40)
    # 5000 bars in 1000 chart bars of 5: the value at each bucket's last bar, at its start
    assert lines["slow"]["points"][0] == [int(candles.ts[35]), float(slow[39])]
    assert len(lines["slow"]["points"]) == 1000 - 7  # buckets before the warm-up left out
    assert all(math.isfinite(v) for _, v in lines["fast"]["points"])
    rsi = chart_indicators("rsi_mean_reversion", {"oversold": 25}, candles)
    assert rsi["rsi"]["pane"] == 1 and rsi["rsi"]["levels"] == [25.0, 70.0]
    assert chart_indicators("grid", {}, candles) == {}


def test_the_results_chart_has_the_lines_the_bot_page_draws(alice_client, queued, stored):
    run = queued(params={"fast": 10, "slow": 30})
    backtest_run_execute(run_id=run.pk)
    run.refresh_from_db()
    stored_lines = run.results["indicators"]
    idx = sample_indices(len(stored))  # 3,000 bars in 2,000 chart bars: buckets of 2
    times = stored.ts.tolist()
    bot = indicator_lines("sma_cross", run.params, stored.close, times)  # the bot chart's
    by_time = {p["time"]: p["value"] for p in bot["fast"]["points"]}
    for t, v in stored_lines["fast"]["points"][:50]:
        bucket_last = times[times.index(t) + 1]
        assert v == by_time[bucket_last]
    assert len(idx) == 2000
    page = alice_client.get(reverse("strategies:backtest-detail", args=[run.pk])).content.decode()
    assert '"indicators": {"fast": {"pane": 0' in page and "js/charts.js" in page


@pytest.mark.parametrize("strategy", ["ema_cross", "bollinger", "macd", "rsi_mean_reversion"])
def test_bot_and_backtest_lines_come_from_one_source(strategy):
    candles = _candles(600)
    times = (candles.ts // 1000).tolist()
    lines = indicator_lines(strategy, {}, candles.close, times)
    drawn = chart_indicators(strategy, {}, candles)  # 600 bars: one chart bar each
    assert set(lines) == set(drawn)
    for name, line in lines.items():
        assert [p["value"] for p in line["points"]] == [v for _, v in drawn[name]["points"]]


def test_cagr_is_not_annualized_from_a_few_days():
    from strategies.views import metrics_rows

    metrics = {"total_return": -0.12, "cagr": -0.9999}
    assert dict(metrics_rows(metrics, days=3))["CAGR"] == "– (under 90 days)"
    assert dict(metrics_rows(metrics, days=400))["CAGR"] == "-99.99%"
