"""Backtests in a real browser: fill the New backtest form, watch the run's progress pushed over
its websocket while a real Celery worker (the "backtests" queue) runs it, see the candlestick
chart with its markers, the equity curve and the metrics, without a script error.

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
def start_backtest_worker(child_processes):
    """Starts a real Celery worker on the backtests queue, against this test's database."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("backtests")  # messages of earlier tests name runs this database lacks
    client.close()
    return lambda: workers.start_worker(
        child_processes, {"LOG_LEVEL": "WARNING"}, "backtests", queues="backtests", threads=2
    )


# records every text the progress line shows, and the first time the results appear
WATCH_PROGRESS = """() => {
  window.seenProgress = [];
  const note = () => {
    const line = document.getElementById("backtest-progress-text");
    const text = line ? line.textContent.trim() : null;
    if (text && window.seenProgress[window.seenProgress.length - 1] !== text)
      window.seenProgress.push(text);
    if (document.getElementById("backtest-metrics") && !window.seenProgress.includes("RESULTS"))
      window.seenProgress.push("RESULTS");
  };
  new MutationObserver(note).observe(document.body, {subtree: true, childList: true,
                                                      characterData: true});
  note();
}"""


def test_a_backtest_run_from_the_form_shows_its_progress_live_then_its_chart(
    signed_in, stored_candles, start_backtest_worker, shot
):
    page = signed_in
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(frame)))
    page.get_by_role("link", name="Backtests").first.click()
    page.wait_for_url("**/strategies/backtests/")
    page.select_option("#id_strategy", "sma_cross")
    page.fill("#id_params-sma_cross-fast", "10")
    page.fill("#id_params-sma_cross-slow", "30")
    shot(page, "form")
    page.click("#backtest-submit")  # no worker yet: the run waits, its page is live
    page.wait_for_url("**/strategies/backtests/*/")
    page.evaluate(WATCH_PROGRESS)
    deadline = 100
    while not frames and deadline:  # the socket's first frame: the run's state
        page.wait_for_timeout(100)
        deadline -= 1
    assert frames and "Waiting for a backtest worker" in str(frames[0])
    shot(page, "queued")
    start_backtest_worker()
    page.locator("#backtest-status", has_text="Done").wait_for()
    page.locator("[data-backtest-chart=candles] canvas").first.wait_for()
    page.locator("[data-backtest-chart=equity] canvas").first.wait_for()
    page.wait_for_timeout(300)  # let the charts paint before the screenshot
    shot(page, "results")
    seen = page.evaluate("window.seenProgress")  # the page was never reloaded: it is still set
    assert seen[0] == "Waiting for a backtest worker…" and seen[-1] == "RESULTS", seen
    bars = [s for s in seen if s.endswith("%)") or " bars (" in s]
    assert any("3000 of 3000 bars (100%)" in s for s in bars), seen
    assert seen.index(bars[0]) < seen.index("RESULTS")
    run = BacktestRun.objects.get()
    assert run.status == "done" and run.bars_done == 3000
    assert page.locator("#backtest-metrics").inner_text().startswith("Total return")
    rows = page.locator("#backtest-trades tbody tr").count()
    assert rows == len(run.results["trades"]) > 0
    assert page.locator("#backtest-run[ws-connect]").count() == 0  # the socket is closed
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
