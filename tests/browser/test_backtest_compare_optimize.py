"""Backtests in a real browser, end to end with a real Celery worker on the backtests queue:
two runs from the form through the parameter fields generated from the strategy's schema (the
results chart drawing the strategy's indicator lines), the two compared side by side with the
verdict, and a grid optimization of two parameters shown as a heatmap.

Candles: the first 3,000 minutes of the real Binance BTC/USDT 1m file (shared data), skipped
cleanly when the file is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from strategies.models import BacktestRun, Optimization
from tests.browser.test_backtests import start_backtest_worker, stored_candles  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

# every Content-Security-Policy violation the browser reports, kept from before page scripts
WATCH_VIOLATIONS = """
window.cspViolations = window.cspViolations || [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}`);
});
"""


def _watch(page) -> list:
    """Collect CSP messages of the console; the page's own violations in window.cspViolations."""
    console = []
    page.on("console", lambda m: "Content Security Policy" in m.text and console.append(m.text))
    page.context.add_init_script(WATCH_VIOLATIONS)
    return console


def _no_violations(page, console) -> None:
    assert page.evaluate("window.cspViolations || []") == [] and console == []


def _run_from_form(page, fast: str, slow: str) -> None:
    page.goto("/strategies/backtests/")
    page.select_option("#id_strategy", "sma_cross")
    assert page.locator("[data-strategy-params=ema_cross]").is_hidden()
    page.fill("#id_params-sma_cross-fast", fast)
    page.fill("#id_params-sma_cross-slow", slow)
    page.click("#backtest-submit")
    page.wait_for_url("**/strategies/backtests/*/")
    page.locator("#backtest-status", has_text="Done").wait_for(timeout=120_000)
    page.locator("[data-backtest-chart=candles][data-indicators]").wait_for()


def test_runs_from_the_schema_fields_compared_then_a_heatmap_optimization(signed_in, shot, request):
    request.getfixturevalue("stored_candles")  # the fixtures of test_backtests, imported above
    start_worker = request.getfixturevalue("start_backtest_worker")
    page = signed_in
    console = _watch(page)
    start_worker()
    page.goto("/strategies/backtests/")
    # the fields follow the chosen strategy, with the schema's bounds and defaults
    page.select_option("#id_strategy", "rsi_mean_reversion")
    assert page.locator("#id_params-rsi_mean_reversion-period").input_value() == "14"
    assert page.locator("#id_params-sma_cross-fast").is_hidden()
    page.select_option("#id_strategy", "sma_cross")
    page.fill("#id_params-sma_cross-fast", "40")  # fast >= slow: refused on its field
    page.click("#backtest-submit")
    error = page.locator("#id_params-sma_cross-fast-error")
    assert "must be shorter than slow (30)" in error.inner_text()
    shot(page, "field-error")
    _run_from_form(page, "10", "30")
    chart = page.locator("[data-backtest-chart=candles]")
    assert chart.get_attribute("data-indicators") == "fast,slow"
    assert "lines: fast, slow" in page.locator("[data-backtest-indicators]").inner_text()
    page.wait_for_timeout(300)
    shot(page, "results-with-indicators")
    _no_violations(page, console)
    _run_from_form(page, "20", "90")
    first, second = BacktestRun.objects.order_by("id")
    assert (first.params["fast"], second.params["slow"]) == (10, 90)

    page.goto("/strategies/backtests/")
    page.check(f"input[name=ids][value='{second.pk}']")
    page.check(f"input[name=ids][value='{first.pk}']")
    page.click("#compare-submit")
    page.wait_for_url("**/strategies/backtests/compare/**")
    verdict = page.locator("#compare-verdict").inner_text()
    assert verdict.startswith("Verdict:") and f"#{second.pk}" in verdict
    page.locator("[data-backtest-chart=compare] canvas").first.wait_for()
    assert page.locator("[data-backtest-chart=compare]").get_attribute("data-curves") == "2"
    rows = page.locator("#compare-significance tbody tr")
    assert rows.count() == 1 and f"#{first.pk} vs #{second.pk}" in rows.first.inner_text()
    page.wait_for_timeout(300)
    shot(page, "compare")
    _no_violations(page, console)

    page.goto("/strategies/backtests/")
    page.click("#optimize-link")
    page.wait_for_url("**/strategies/optimizations/")
    page.select_option("#id_strategy", "sma_cross")
    for name, value in (("fast-min", "4"), ("fast-max", "40"), ("fast-step", "4"),
                        ("slow-min", "20"), ("slow-max", "120"), ("slow-step", "10")):  # fmt: skip
        page.fill(f"#id_space-sma_cross-{name}", value)
    page.select_option("#id_objective", "sharpe")
    shot(page, "optimize-form")
    page.click("#optimization-submit")
    page.wait_for_url("**/strategies/optimizations/*/")
    page.locator("#optimization-status", has_text="Done").wait_for(timeout=120_000)
    heatmap = page.locator("#optimization-heatmap")
    assert heatmap.locator("tbody tr").count() == 11  # slow 20..120
    assert heatmap.locator("thead th").count() == 11  # the corner and fast 4..40
    assert heatmap.locator("td.best").count() == 1
    shaded = page.evaluate(
        "[...document.querySelectorAll('#optimization-heatmap td[data-shaded]')]"
        ".filter(td => td.style.background).length"
    )
    run = Optimization.objects.get()
    assert shaded == run.results["evaluated"] > 50
    notes = page.locator("[data-edge-note]").all_inner_texts()
    if run.results["best"]["total_return"] <= 0:
        assert notes[0].startswith("No combination made money over this period")
    best = page.locator("#optimization-best").inner_text()
    assert f"fast = {run.results['best']['params']['fast']}" in best
    page.wait_for_timeout(200)
    shot(page, "heatmap")
    _no_violations(page, console)
    _tpe_search_watched_live(page, shot)
    _no_violations(page, console)
    assert page.errors == []


def test_walk_forward_results_config_files_and_the_paper_comparison_read_right(
    signed_in, alice, shot, request, monkeypatch
):
    import secrets
    from datetime import UTC, datetime
    from decimal import Decimal

    from strategies import optimizations
    from tradecore.backtest.runner import run_candles
    from tradecore.domain import Instrument
    from tradecore.strategies import REGISTRY, validate_config
    from trading.models import Fill, Order
    from trading.services.bots import bot_create

    candles = request.getfixturevalue("stored_candles")
    monkeypatch.setattr(optimizations, "_enqueue", lambda run_id: None)
    start = datetime.fromtimestamp(int(candles.ts[0]) / 1000, tz=UTC)
    end = datetime.fromtimestamp((int(candles.ts[-1]) + 60_000) / 1000, tz=UTC)
    run = optimizations.optimization_create(
        user=alice, strategy="sma_cross", params={}, exchange="binance", symbol="BTC/USDT",
        timeframe="1m", start=start, end=end, cash="10000", method="walk_forward",
        objective="return", space={"fast": [5, 10, 20], "slow": [30, 60, 120]},
        options={"folds": 4, "max_drawdown": 0.05, "min_profitable_share": 0.5},
    )  # fmt: skip
    assert optimizations.optimization_execute(run_id=run.pk) == "done"
    page = signed_in
    console = _watch(page)
    page.goto(f"/strategies/optimizations/{run.pk}/")
    page.locator("#walk-forward-folds").wait_for()
    assert page.locator("#walk-forward-folds tbody tr").count() == 4
    assert page.locator("#walk-forward-gates tbody tr").count() == 3
    page.locator("[data-backtest-chart=compare] canvas").first.wait_for()
    verdict = page.locator("#walk-forward-verdict").inner_text()
    assert verdict.startswith(("Passed every gate", "Failed a gate"))
    page.wait_for_timeout(300)
    shot(page, "walk-forward")
    _no_violations(page, console)

    bot = bot_create(user=alice, name="SMA paper", strategy="sma_cross",
                     params={"fast": 10, "slow": 30}, symbols=["BTC/USDT"],
                     venues=[{"exchange": "binance"}], budget="10000")  # fmt: skip
    inst = Instrument("BTC/USDT", "BTC", "USDT", Decimal("0.00000001"), Decimal("0.00000001"),
                      Decimal(0), Decimal("0.001"), Decimal("0.001"))  # fmt: skip
    strategy = REGISTRY["sma_cross"](validate_config("sma_cross", bot.params), symbol="BTC/USDT")
    fills = run_candles(strategy, candles, inst, cash=Decimal(10_000), interval_ms=60_000).fills
    for i, f in enumerate(fills[:-2]):  # the bot missed the last round trip, paid 2 bp more
        order = Order.objects.create(
            bot=bot, user=alice, mode="paper", exchange="binance", symbol="BTC/USDT",
            client_order_id=secrets.token_hex(8), side=f.side.value, type="market", qty=f.qty,
        )  # fmt: skip
        worse = Decimal("1.0002") if f.side.value == "buy" else Decimal("0.9998")
        Fill.objects.create(
            bot=bot, order=order, user=alice, mode="paper", exchange="binance",
            account_key="paper", symbol="BTC/USDT", trade_id=f"t{i}", side=f.side.value,
            price=f.price * worse, qty=f.qty, fee=f.fee, fee_asset="USDT",
            executed_at=datetime.fromtimestamp(int(f.ts) / 1000, tz=UTC), source="paper",
        )  # fmt: skip
    page.goto("/strategies/configs/")
    assert "SMA paper" in page.locator("#bot-configs").inner_text()
    shot(page, "config-files")
    _no_violations(page, console)
    # the bot's own page links both: its config file, and the comparison
    page.goto(reverse("trading:bot-detail", args=[bot.pk]))
    with page.expect_download() as download:
        page.click("#bot-export-config")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["name"] == "SMA paper" and exported["params"]["fast"] == 10
    page.wait_for_timeout(300)
    shot(page, "bot-links")
    _no_violations(page, console)
    page.click("#bot-compare-backtest")
    page.locator("#paper-causes").wait_for()
    words = page.locator("#paper-comparison-words").inner_text()
    assert words.startswith("The bot made") and "slippage" in words
    assert "Missed fills (2)" in page.locator("#paper-causes").inner_text()
    shot(page, "paper-comparison")
    _no_violations(page, console)
    assert page.errors == []


# records every text the search's progress line shows, and when its results appear
WATCH_SEARCH = """() => {
  window.seenSearch = [];
  const note = () => {
    const line = document.getElementById("optimization-progress-text");
    const text = line ? line.textContent.trim() : null;
    if (text && window.seenSearch[window.seenSearch.length - 1] !== text)
      window.seenSearch.push(text);
    if (document.getElementById("optimization-best") && !window.seenSearch.includes("RESULTS"))
      window.seenSearch.push("RESULTS");
  };
  new MutationObserver(note).observe(document.body, {subtree: true, childList: true,
                                                      characterData: true});
  note();
}"""


def _start_tpe_search(page) -> Optimization:
    page.goto("/strategies/optimizations/")
    page.select_option("#id_strategy", "sma_cross")
    for name, value in (("fast-min", "2"), ("fast-max", "60"), ("fast-step", "2"),
                        ("slow-min", "20"), ("slow-max", "200"), ("slow-step", "5")):  # fmt: skip
        page.fill(f"#id_space-sma_cross-{name}", value)
    page.select_option("#id_method", "tpe")
    page.fill("#id_trials", "300")
    page.click("#optimization-submit")
    page.wait_for_url("**/strategies/optimizations/*/")
    return Optimization.objects.latest("id")


# records every text the list row's status cell shows
WATCH_ROW = """(id) => {
  window.seenRow = [];
  const note = () => {
    const cell = document.getElementById(id);
    const text = cell ? cell.textContent.trim() : null;
    if (text && window.seenRow[window.seenRow.length - 1] !== text) window.seenRow.push(text);
  };
  new MutationObserver(note).observe(document.body, {subtree: true, childList: true,
                                                      characterData: true});
  note();
}"""


def _tpe_search_watched_live(page, shot) -> None:
    """A TPE search of 300 trials (seconds of work): its page shows the evaluations climb and
    then the results, pushed over its socket; the page asks for its own URL once, when the
    search ends (no polling). Then the list: a second search's row climbs and ends the same
    way, the table reloaded once on connect and once at the end."""
    requests = []
    page.on("request", lambda r: requests.append((r.method, r.url, r.headers.get("hx-request"))))
    run = _start_tpe_search(page)
    page.evaluate(WATCH_SEARCH)
    detail = f"/strategies/optimizations/{run.pk}/"
    page.locator("#optimization-progress-text", has_text="of 300 combinations evaluated").wait_for(
        timeout=120_000
    )
    shot(page, "optimization-progress")
    page.locator("#optimization-best").wait_for(timeout=120_000)
    assert page.locator("#optimization-status").inner_text() == "Done"
    seen = page.evaluate("window.seenSearch")  # never reloaded: the watcher is still there
    counts = [s for s in seen if "of 300 combinations evaluated" in s]
    assert len(counts) >= 2 and seen[-1] == "RESULTS", seen  # it climbed, then the results
    assert "300 of 300 combinations evaluated (100%)" in counts[-1], seen
    gets = [(m, h) for m, url, h in requests if url.endswith(detail)]
    # the POST's redirect lands on the page (a navigation), then one htmx GET when it ends
    assert gets == [("GET", None), ("GET", "true")], gets
    shot(page, "optimization-live-done")

    second = _start_tpe_search(page)
    page.goto("/strategies/optimizations/")
    listed = len(requests)
    page.evaluate(WATCH_ROW, f"optimization-run-{second.pk}-state")
    row = page.locator(f"#optimization-run-{second.pk}-state")
    row.filter(has_text="Done").wait_for(timeout=120_000)
    seen = page.evaluate("window.seenRow")
    running = [s for s in seen if s.startswith("Running ")]
    assert len(running) >= 2 and seen[-1] == "Done", seen  # percent pushed, then the end
    reloads = [u for m, u, h in requests[listed:] if u.endswith("/strategies/optimizations/")]
    assert 1 <= len(reloads) <= 2, reloads  # on connect, and when the search ended
    page.wait_for_timeout(2500)  # nothing runs now: nothing more is asked for
    later = [u for m, u, h in requests[listed:] if "/strategies/optimizations/" in u]
    assert later == reloads, later
    shot(page, "optimization-list-done")
