"""Backtests on trades and order books in a real browser: a market maker on the real Binance
XRP/ETH trades and a book-walk run with latency on the real Binance BTC/USDT best bid/ask, both
started from the New backtest form and run by a real Celery worker on the backtests queue; the
results chart is painted with the fills as markers, the inventory chart under it, and the page
says which data, slippage model and latency the run used. Skipped cleanly without the files.
"""

from __future__ import annotations

import json

import pytest

from marketdata.testing import data_file
from strategies.models import BacktestRun
from tests.browser.conftest import wait_painted
from tests.browser.test_backtests import start_backtest_worker  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tick_files(transactional_db):
    for name in ("ticks/binance_XRP-ETH_trades_20191011.csv.gz",
                 "ticks/binance_BTC-USDT_trades_20210108.csv.gz",
                 "ticks/binance_BTC-USDT_quotes_20210108.csv.gz"):  # fmt: skip
        data_file(name)


def _fill_common(page, *, strategy, market, timeframe, start, end, cash, source, slippage,
                 latency):  # fmt: skip
    page.select_option("#id_strategy", strategy)
    page.select_option("#id_market", market)
    page.select_option("#id_timeframe", timeframe)
    page.fill("#id_start", start)
    page.fill("#id_end", end)
    page.fill("#id_cash", cash)
    page.fill("#id_fee_rate", "0.001")
    page.select_option("#id_data_source", source)
    page.select_option("#id_slippage_model", slippage)
    page.fill("#id_latency_ms", latency)


def _results(page, run_id: int) -> dict:
    return json.loads(page.locator(f"#backtest-data-{run_id}").text_content())


def test_a_market_maker_and_a_book_walk_run_from_the_form_paint_their_charts_with_markers(
    signed_in,
    tick_files,
    start_backtest_worker,  # noqa: F811
    shot,
):
    page = signed_in
    start_backtest_worker()
    page.goto("/strategies/backtests/")
    _fill_common(page, strategy="pure_market_making", market="binance|XRP/ETH", timeframe="1m",
                 start="2019-10-11", end="2019-10-14", cash="10", source="trades",
                 slippage="none", latency="0")  # fmt: skip
    for name, value in (("order_amount", "50"), ("bid_spread", "0.002"), ("ask_spread", "0.002"),
                        ("order_refresh_time_ms", "60000"),
                        ("filled_order_delay_ms", "60000")):  # fmt: skip
        page.fill(f"#id_params-pure_market_making-{name}", value)
    shot(page, "market-maker-form")
    page.click("#backtest-submit")
    page.wait_for_url("**/strategies/backtests/*/")
    page.locator("#backtest-status", has_text="Done").wait_for()
    run = BacktestRun.objects.get()
    assert run.status == "done", run.error
    wait_painted(page, "[data-backtest-chart=candles]", 0)
    wait_painted(page, "[data-backtest-chart=inventory]", 0)
    data = _results(page, run.pk)
    assert len(data["markers"]) == len(run.results["fills"]) > 10
    assert {m["side"] for m in data["markers"]} == {"buy", "sell"}
    assert max(p[1] for p in data["inventory"]) > 0
    execution = page.locator("#backtest-execution").inner_text()
    assert execution == "Data: Trades · Slippage: none · Latency: 0 ms"
    page.wait_for_timeout(300)  # let the charts settle before the screenshot
    shot(page, "market-maker-results")

    page.goto("/strategies/backtests/")
    _fill_common(page, strategy="sma_cross", market="binance|BTC/USDT", timeframe="1s",
                 start="2021-01-08T00:00:00Z", end="2021-01-08T00:01:00Z", cash="10000",
                 source="book", slippage="book_walk", latency="50")  # fmt: skip
    page.fill("#id_params-sma_cross-fast", "2")
    page.fill("#id_params-sma_cross-slow", "5")
    page.click("#backtest-submit")
    page.wait_for_url("**/strategies/backtests/*/")
    page.locator("#backtest-status", has_text="Done").wait_for()
    walked = BacktestRun.objects.latest("id")
    assert walked.status == "done", walked.error
    wait_painted(page, "[data-backtest-chart=candles]", 0)
    assert len(_results(page, walked.pk)["markers"]) == len(walked.results["fills"]) > 0
    assert page.locator("#backtest-execution").inner_text() == (
        "Data: Trades and order book · Slippage: book-walk · Latency: 50 ms"
    )
    assert page.get_by_text("book too thin").count() > 0  # the top of book holds less
    page.wait_for_timeout(300)
    shot(page, "book-walk-results")
    assert page.errors == []


def test_book_walk_where_no_book_exists_is_refused_on_the_form(signed_in, tick_files, shot):
    page = signed_in
    page.goto("/strategies/backtests/")
    _fill_common(page, strategy="sma_cross", market="binance|XRP/ETH", timeframe="1m",
                 start="2019-10-11", end="2019-10-14", cash="10", source="trades",
                 slippage="book_walk", latency="0")  # fmt: skip
    page.click("#backtest-submit")
    error = page.locator("#id_slippage_model-error")
    error.wait_for()
    assert error.inner_text().startswith("No order-book data for binance XRP/ETH")
    assert "binance BTC/USDT 2021-01-08" in error.inner_text()
    shot(page, "book-walk-refused")
    assert BacktestRun.objects.count() == 0
    assert page.errors == []
