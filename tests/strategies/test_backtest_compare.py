"""Comparing backtest runs: metrics side by side, return curves, and the significance of the
difference (a paired stationary bootstrap of per-period returns; Hansen's SPA with more than
two runs) on constructed cases whose answer is known; owner-scoped page and API."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from django.urls import reverse

from strategies.compare import compare_runs, pair_test
from strategies.models import BacktestRun
from strategies.services import backtest_run_execute

HOUR = 3_600_000
T0 = 1_614_556_800_000  # 2021-03-01 UTC


def _walk(seed, n=1500, drift=0.0, vol=0.01):
    return np.random.default_rng(seed).normal(drift, vol, n)


def _done(user, returns, *, start=T0, step=HOUR, strategy="sma_cross") -> BacktestRun:
    """A finished run whose stored equity earns `returns`, one per hour (a constructed case:
    the comparison reads only what a run stores)."""
    equity = 10_000 * np.cumprod(np.concatenate([[1.0], 1 + np.asarray(returns)]))
    ts = start + step * np.arange(len(equity))
    points = [[int(t), float(e), 10_000.0] for t, e in zip(ts, equity, strict=True)]
    total = float(equity[-1] / equity[0] - 1)
    metrics = {"total_return": total, "sharpe": 0.0, "max_drawdown": 0.0, "trade_count": 3,
               "final_equity": float(equity[-1])}  # fmt: skip
    return BacktestRun.objects.create(
        user=user, strategy=strategy, params={}, exchange="binance", symbol="BTC/USDT",
        timeframe="1h", start=datetime.fromtimestamp(start / 1000, tz=UTC),
        end=datetime.fromtimestamp((int(ts[-1]) + step) / 1000, tz=UTC), cash=10_000,
        fee_rate="0.001", status="done",
        results={"metrics": metrics, "equity": {"points": points}},
    )  # fmt: skip


def test_the_same_strategy_run_twice_is_not_significantly_different(queued, alice):
    first, second = queued(), queued()
    for run in (first, second):
        backtest_run_execute(run_id=run.pk)
        run.refresh_from_db()
    result = compare_runs([first, second])
    pair = result["pairs"][0]
    assert pair["identical"] and pair["sharpe_p"] == 1.0 and pair["return_p"] == 1.0
    assert pair["sharpe_ci"] == [0.0, 0.0] and result["periods"] > 100
    assert result["verdict"] == (
        f"Runs #{first.pk} and #{second.pk} earned identical returns over their common period: "
        "there is no difference to test."
    )


def test_two_strategies_without_an_edge_are_not_significantly_different(alice, db):
    a, b = _done(alice, _walk(1)), _done(alice, _walk(7))
    result = compare_runs([a, b])
    pair = result["pairs"][0]
    assert not pair["identical"] and pair["sharpe_p"] > 0.05 and pair["return_p"] > 0.05
    low, high = pair["sharpe_ci"]
    assert low < 0 < high  # the interval holds no difference
    assert result["verdict"].startswith(f"Runs #{a.pk} and #{b.pk} cannot be told apart")
    assert result["spa"] is None


def test_a_planted_edge_is_significant_and_named(alice, db):
    base = _walk(1)
    noise = np.random.default_rng(2).normal(0, 0.002, len(base))
    a, b = _done(alice, base), _done(alice, base + 0.002 + noise)  # +0.2% an hour
    result = compare_runs([a, b])
    pair = result["pairs"][0]
    assert pair["sharpe_diff"] > 0 and pair["sharpe_p"] < 0.01
    assert pair["return_diff"] > 0 and pair["sharpe_ci"][0] > 0
    assert result["verdict"].startswith(f"Run #{b.pk} has the better risk-adjusted return")
    # the same answer on every call: the bootstrap's seed is fixed
    assert compare_runs([a, b]) == result


def test_the_bootstrap_interval_covers_a_known_sharpe_difference_and_its_p_falls_with_it():
    rng = np.random.default_rng(5)
    base = rng.normal(0, 0.01, 2000)
    edges = [pair_test(base, base + d + rng.normal(0, 0.004, 2000), 8766.0)
             for d in (0.0, 0.0003, 0.001)]  # fmt: skip
    assert edges[0]["sharpe_p"] > 0.05
    assert edges[0]["sharpe_p"] > edges[1]["sharpe_p"] > edges[2]["sharpe_p"]
    assert edges[2]["sharpe_p"] < 0.01


def test_with_more_than_two_runs_hansens_spa_corrects_for_the_number_tested(alice, db):
    base = _walk(1)
    worse = [_done(alice, base - 0.0005 + _walk(s, vol=0.003)) for s in (3, 4, 5)]
    bench = _done(alice, base)
    none = compare_runs([bench, *worse])
    assert none["spa"]["p_value"] > 0.05 and len(none["pairs"]) == 3
    assert none["verdict"].startswith("None of the 3 other runs beats run")
    edge = _done(alice, base + 0.002 + _walk(6, vol=0.002))
    some = compare_runs([bench, *worse, edge])
    assert some["spa"]["p_value"] < 0.05
    assert some["verdict"].endswith(f"the best is run #{edge.pk}.")


def test_runs_are_aligned_on_the_period_they_share(alice, db):
    a = _done(alice, _walk(1, n=600))
    b = _done(alice, _walk(2, n=600), start=T0 + 200 * HOUR)  # overlap: 400 hours
    result = compare_runs([a, b])
    assert result["periods"] == 400 and result["common_start_ms"] == T0 + 200 * HOUR
    apart = _done(alice, _walk(3, n=100), start=T0 + 10_000 * HOUR)
    assert "share no period" in compare_runs([a, apart])["verdict"]


def test_compare_refuses_too_few_too_many_repeated_and_unfinished_runs(alice, queued):
    from django.core.exceptions import ValidationError

    done = _done(alice, _walk(1))
    with pytest.raises(ValidationError, match="Choose 2 to 8"):
        compare_runs([done])
    with pytest.raises(ValidationError, match="Choose 2 to 8"):
        compare_runs([done] + [_done(alice, _walk(i)) for i in range(8)])
    with pytest.raises(ValidationError, match="listed twice"):
        compare_runs([done, done])
    with pytest.raises(ValidationError, match=r"#\d+ is queued"):
        compare_runs([done, queued()])


def test_the_compare_page_and_api_show_the_comparison(alice, alice_client, db):
    a, b, c = (_done(alice, _walk(s)) for s in (1, 7, 9))
    page = alice_client.get(reverse("strategies:backtest-compare"), {"ids": f"{a.pk},{b.pk}"})
    html = page.content.decode()
    assert page.status_code == 200 and 'id="compare-verdict"' in html
    assert "cannot be told apart" in html and 'data-backtest-chart="compare"' in html
    assert f"#{a.pk} vs #{a.pk}" not in html and f"#{b.pk} vs #{a.pk}" in html
    listed = alice_client.get(reverse("strategies:backtest-list")).content.decode()
    assert f'name="ids" value="{a.pk}"' in listed and 'id="compare-submit"' in listed
    three = alice_client.get("/api/v1/backtests/compare/", {"ids": f"{a.pk},{b.pk},{c.pk}"})
    body = three.json()
    assert three.status_code == 200 and [r["id"] for r in body["runs"]] == [a.pk, b.pk, c.pk]
    assert len(body["pairs"]) == 2 and 0 <= body["spa"]["p_value"] <= 1 and body["verdict"]
    repeated = alice_client.get("/api/v1/backtests/compare/", {"ids": [a.pk, b.pk]})
    assert repeated.status_code == 200  # repeated ids= values work too
    one = alice_client.get("/api/v1/backtests/compare/", {"ids": a.pk})
    assert one.status_code == 400 and "Choose 2 to 8" in one.json()["error"]["fields"]["ids"][0]
    bad = alice_client.get("/api/v1/backtests/compare/", {"ids": "1,x"})
    assert (
        bad.status_code == 400
        and "'x' is not a backtest id" in bad.json()["error"]["fields"]["ids"][0]
    )
    assert (
        alice_client.get(reverse("strategies:backtest-compare"), {"ids": a.pk}).status_code == 400
    )


def test_compare_is_owner_scoped(alice, bob, bob_client, client, db):
    a, b = _done(alice, _walk(1)), _done(alice, _walk(2))
    mine = _done(bob, _walk(3))
    ids = f"{mine.pk},{a.pk}"
    assert bob_client.get(reverse("strategies:backtest-compare"), {"ids": ids}).status_code == 404
    assert bob_client.get("/api/v1/backtests/compare/", {"ids": ids}).status_code == 404
    both = f"{a.pk},{b.pk}"
    assert client.get(reverse("strategies:backtest-compare"), {"ids": both}).status_code == 302
    assert client.get("/api/v1/backtests/compare/", {"ids": both}).status_code in (401, 403)


def test_compare_is_in_the_openapi_schema(alice_client, db):
    schema = alice_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/backtests/compare/"]["get"]
    assert any(p["name"] == "ids" for p in operation["parameters"])
