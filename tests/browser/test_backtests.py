"""Backtests in a real browser: fill the New backtest form, watch the run's progress finish on
a real Celery worker (the "backtests" queue), see the candlestick chart with its markers, the
equity curve and the metrics, without a script error.

Candles: the first 3,000 minutes of the real Binance BTC/USDT 1m file (shared data), skipped
cleanly when the file is absent.
"""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from strategies.models import BacktestRun
from tests.strategies.test_backtests import _data_path
from tests.trading import workers
from tradecore.backtest import load_candles

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stored_candles(transactional_db):
    from marketdata.services.candles import candle_copy_upsert

    path = _data_path()
    if not path.exists():
        pytest.skip(f"market data {path.name} not found under {path.parent}")
    candles = load_candles(path).slice(0, 3000)
    prices = (candles.open, candles.high, candles.low, candles.close, candles.volume)
    rows = list(zip(candles.ts.tolist(), *(map(repr, c.tolist()) for c in prices), strict=True))
    candle_copy_upsert(exchange="binance", symbol="BTC/USDT", timeframe="1m", bars=rows)
    return candles


@pytest.fixture
def backtest_worker(child_processes):
    """A real Celery worker on the backtests queue, against this test's database."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("backtests")  # messages of earlier tests name runs this database lacks
    client.close()
    return workers.start_worker(
        child_processes, {"LOG_LEVEL": "WARNING"}, "backtests", queues="backtests", threads=2
    )


def test_a_backtest_run_from_the_form_finishes_and_shows_its_chart(
    signed_in, stored_candles, backtest_worker, shot
):
    page = signed_in
    page.get_by_role("link", name="Backtests").first.click()
    page.wait_for_url("**/strategies/backtests/")
    page.select_option("#id_strategy", "sma_cross")
    page.fill("#id_params", '{"fast": 10, "slow": 30}')
    shot(page, "form")
    page.click("#backtest-submit")
    page.wait_for_url("**/strategies/backtests/*/")
    page.locator("#backtest-status", has_text="Done").wait_for()
    page.locator("[data-backtest-chart=candles] canvas").first.wait_for()
    page.locator("[data-backtest-chart=equity] canvas").first.wait_for()
    page.wait_for_timeout(300)  # let the charts paint before the screenshot
    shot(page, "results")
    run = BacktestRun.objects.get()
    assert run.status == "done" and run.bars_done == 3000
    assert page.locator("#backtest-metrics").inner_text().startswith("Total return")
    rows = page.locator("#backtest-trades tbody tr").count()
    assert rows == len(run.results["trades"]) > 0
    assert page.locator("#backtest-run[hx-trigger]").count() == 0  # polling stopped
    page.get_by_role("link", name="All backtests").click()
    row = page.locator("#backtest-runs tbody tr").first
    assert f"#{run.pk}" in row.inner_text() and "Done" in row.inner_text()
    shot(page, "list")
    assert page.errors == []


def test_a_finished_run_draws_its_drawdown_below_the_running_peak(
    signed_in, alice, stored_candles, shot, monkeypatch
):
    from datetime import UTC, datetime

    from strategies import services

    monkeypatch.setattr(services, "_enqueue", lambda run_id: None)
    ts = stored_candles.ts
    run = services.backtest_run_create(
        user=alice, strategy="sma_cross", params={"fast": 10, "slow": 30}, exchange="binance",
        symbol="BTC/USDT", timeframe="1m",
        start=datetime.fromtimestamp(int(ts[0]) / 1000, tz=UTC),
        end=datetime.fromtimestamp((int(ts[-1]) + 60_000) / 1000, tz=UTC), cash="10000",
    )  # fmt: skip
    assert services.backtest_run_execute(run_id=run.pk) == "done"
    page = signed_in
    page.goto(f"/strategies/backtests/{run.pk}/")
    page.locator("[data-backtest-chart=drawdown] canvas").first.wait_for()
    page.locator("#backtest-monthly").wait_for()
    # 100 -> 120 (peak) -> 90 is 25% below the peak; a new high is 0
    points = page.evaluate(
        "PeregrineBacktest.drawdownPoints([[0, 100, 0], [60000, 120, 0], [120000, 90, 0],"
        " [180000, 130, 0]]).map(function (p) { return p.value; })"
    )
    assert points == [0, 0, -25, 0]
    page.wait_for_timeout(300)
    shot(page, "drawdown")
    assert page.errors == []
