"""Backtests on the data folder's trades and books, book-walk slippage and latency: refused
where the data does not exist (saying what does), run from the form and the API on small real
slices (Binance XRP/ETH trades, 2.5 days; Binance BTC/USDT trades and best bid/ask, 46 s),
skipped cleanly when the data folder lacks the files."""

from __future__ import annotations

import bisect
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from marketdata import tickfiles
from marketdata.testing import data_file
from strategies.models import BacktestRun
from strategies.services import backtest_run_create, backtest_run_execute

XRP_TRADES = "ticks/binance_XRP-ETH_trades_20191011.csv.gz"
BTC_TRADES = "ticks/binance_BTC-USDT_trades_20210108.csv.gz"
BTC_QUOTES = "ticks/binance_BTC-USDT_quotes_20210108.csv.gz"


@pytest.fixture
def xrp_trades(settings):
    data_file(XRP_TRADES)  # skips without it


@pytest.fixture
def btc_ticks(settings):
    data_file(BTC_TRADES), data_file(BTC_QUOTES)


def _mm_form(**changes) -> dict:
    form = {
        "strategy": "pure_market_making", "market": "binance|XRP/ETH", "timeframe": "1m",
        "start": "2019-10-11", "end": "2019-10-14", "cash": "10", "fee_rate": "0.001",
        "slippage_bp": "0", "data_source": "trades", "slippage_model": "none",
        "latency_ms": "0",
        "params-pure_market_making-order_amount": "50",
        "params-pure_market_making-bid_spread": "0.002",
        "params-pure_market_making-ask_spread": "0.002",
        "params-pure_market_making-order_refresh_time_ms": "60000",
        "params-pure_market_making-filled_order_delay_ms": "60000",
    }  # fmt: skip
    form.update(changes)
    return form


def _btc_inputs(**changes) -> dict:
    inputs = {
        "strategy": "sma_cross", "params": {"fast": 2, "slow": 5}, "exchange": "binance",
        "symbol": "BTC/USDT", "timeframe": "1s", "start": "2021-01-08T00:00:00Z",
        "end": "2021-01-08T00:01:00Z", "cash": "10000", "fee_rate": "0.001",
        "data_source": "book", "slippage_model": "book_walk", "latency_ms": 50,
    }  # fmt: skip
    inputs.update(changes)
    return inputs


# -- refused where the data is not -----------------------------------------------------------
def test_book_walk_where_no_book_exists_is_refused_saying_what_exists(alice, stored, btc_ticks):
    start = datetime.fromtimestamp(int(stored.ts[0]) / 1000, tz=UTC)
    with pytest.raises(ValidationError) as caught:
        backtest_run_create(
            user=alice, strategy="sma_cross", params={}, exchange="binance", symbol="BTC/USDT",
            timeframe="1m", start=start, end=start.replace(day=start.day + 1), cash="10000",
            slippage_model="book_walk",
        )  # fmt: skip
    message = " ".join(caught.value.message_dict["slippage_model"])
    assert message.startswith("No order-book data for binance BTC/USDT between 2021-04-20")
    assert "book files cover binance BTC/USDT 2021-01-08 00:00:01" in message
    assert "Choose none or fixed basis points" in message
    assert not BacktestRun.objects.exists()


def test_tick_sources_refuse_markets_and_periods_without_files(alice, xrp_trades):
    with pytest.raises(ValidationError) as caught:
        backtest_run_create(
            user=alice, strategy="pure_market_making", params={}, exchange="binance",
            symbol="XRP/ETH", timeframe="1m", start="2020-01-01", end="2020-01-02", cash="10",
            data_source="trades",
        )  # fmt: skip
    assert "No trades data for binance XRP/ETH between 2020-01-01" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        backtest_run_create(
            user=alice, strategy="spatial_arbitrage", params={}, exchange="binance",
            symbol="XRP/ETH", timeframe="1m", start="2019-10-11", end="2019-10-12", cash="10",
            data_source="trades",
        )  # fmt: skip
    assert "two venues' trades or books" in " ".join(caught.value.message_dict["strategy"])
    assert not BacktestRun.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [({"slippage_model": "none", "slippage_bp": "5"}, "slippage_bp", "fixed_bp model"),
     ({"slippage_model": "walk"}, "slippage_model", "Choose one of"),
     ({"latency_ms": "-1"}, "latency_ms", "out of range"),
     ({"latency_ms": "fast"}, "latency_ms", "whole number"),
     ({"data_source": "ticks"}, "data_source", "Choose one of"),
     ({"data_source": "candles", "strategy": "pure_market_making"}, "strategy", "trades or book")],
)  # fmt: skip
def test_bad_execution_options_are_refused_naming_the_field(alice, stored, changes, field, words):
    inputs = {"strategy": "sma_cross", "params": {}, "exchange": "binance", "symbol": "BTC/USDT",
              "timeframe": "1m", "start": "2021-04-21", "end": "2021-04-22", "cash": "10000",
              **changes}  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        backtest_run_create(user=alice, **inputs)
    assert words in " ".join(caught.value.message_dict[field])
    assert not BacktestRun.objects.exists()


def test_a_candle_run_with_latency_and_fixed_slippage_says_so(alice_client, queued):
    prompt, run = queued(slippage_bp="5"), queued(slippage_bp="5", latency_ms=250)
    assert (run.slippage_model, run.latency_ms, run.slippage_label) == (
        "fixed_bp",
        250,
        "5 bp fixed",
    )
    for each in (prompt, run):
        assert backtest_run_execute(run_id=each.pk) == "done"
        each.refresh_from_db()
    assert run.results["metrics"]["trade_count"] > 0
    # a signal at a bar's close reaches the venue 250 ms later, after the next bar opened: it
    # fills at the open of the bar after that
    first, late = prompt.results["fills"][0], run.results["fills"][0]
    assert late["ts"] == first["ts"] + 60_000
    page = alice_client.get(reverse("strategies:backtest-detail", args=[run.pk])).content.decode()
    assert "Slippage: 5 bp fixed" in page and "Latency: 250 ms" in page and "Data: Candles" in page


# -- a market maker on trades, from the form ---------------------------------------------------
def test_a_market_maker_on_real_trades_from_the_form_fills_with_the_mid_following_the_market(
    alice_client, sent, xrp_trades, django_capture_on_commit_callbacks
):
    url = reverse("strategies:backtest-list")
    page = alice_client.get(url).content.decode()
    assert 'value="binance|XRP/ETH"' in page and 'name="data_source"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(url, _mm_form())
    assert response.status_code == 302, response.content.decode()[:3000]
    run = BacktestRun.objects.get()
    assert sent == [run.pk] and (run.data_source, run.slippage_model) == ("trades", "none")
    assert backtest_run_execute(run_id=run.pk) == "done", BacktestRun.objects.get().error
    run.refresh_from_db()
    results = run.results
    fills = results["fills"]
    sides = {f["side"] for f in fills}
    assert len(fills) >= 10 and sides == {"buy", "sell"}
    assert all(f["liquidity"] == "maker" for f in fills)
    # the price moved ~8% over the 2.5 days; a mid frozen at the first trade would quote (and
    # fill) within 0.2% of 0.00141342 for the whole run
    prices = [Decimal(f["price"]) for f in fills]
    assert max(prices) / min(prices) > Decimal("1.05")
    trades = tickfiles.tick_trades_load(exchange="binance", symbol="XRP/ETH", start_ms=0,
                                        end_ms=2**62)  # fmt: skip
    stamps = [t.ts_ms for t in trades]
    for fill in fills:  # each fill within 1% of the market's last trade before it
        last = trades[bisect.bisect_right(stamps, fill["ts"]) - 1].price
        assert abs(float(fill["price"]) / last - 1) < 0.01
    assert len(results["markers"]) == len(fills)
    assert results["execution"]["trades"] == len(trades) == 12_477
    assert len(results["inventory"]) == len(results["equity"]["points"])  # sampled alike
    assert results["bars"] == run.bars_total == 2469  # minutes with trades
    assert any("No trades for over 60 s" in w for w in run.warnings)
    assert results["metrics"]["fees_paid"] > 0 and results["metrics"]["fill_count"] == len(fills)
    detail = alice_client.get(reverse("strategies:backtest-detail", args=[run.pk])).content.decode()
    assert "Data: Trades" in detail and "Slippage: none" in detail and "Latency: 0 ms" in detail
    assert 'data-backtest-chart="inventory"' in detail


# -- book-walk and latency on real books -------------------------------------------------------
def test_book_walk_with_latency_fills_at_the_book_in_force_on_arrival(alice, sent, btc_ticks):
    run = backtest_run_create(user=alice, **_btc_inputs())
    assert backtest_run_execute(run_id=run.pk) == "done", BacktestRun.objects.get().error
    run.refresh_from_db()
    fills = run.results["fills"]
    assert fills and all(f["liquidity"] == "taker" for f in fills)
    books = tickfiles.tick_books_load(exchange="binance", symbol="BTC/USDT", start_ms=0,
                                      end_ms=2**62)  # fmt: skip
    stamps = [b.ts_ms for b in books]
    for fill in fills:  # the book in force at the fill (the order's arrival), its touch
        book = books[bisect.bisect_right(stamps, fill["ts"]) - 1]
        touch = book.best_ask() if fill["side"] == "buy" else book.best_bid()
        assert Decimal(fill["price"]) == touch[0]
        assert Decimal(fill["qty"]) <= touch[1]
        assert fill["ts"] % 1000 == 50  # sent at a 1s bar's close, arrived 50 ms later
    # the top of book holds far less than 10,000 USDT of BTC: buys are cut short, and said so
    assert run.results["execution"]["cut_short"]
    assert any("book too thin" in w for w in run.warnings)
    assert run.results["execution"]["slippage_model"] == "book_walk"


@pytest.mark.parametrize("strategy", ["pure_market_making", "avellaneda_stoikov"])
def test_market_makers_quote_on_the_real_book_with_latency(alice, sent, btc_ticks, strategy):
    params = {"order_amount": "0.002", "order_refresh_time_ms": 1000}
    params |= {"bid_spread": "0.0001", "ask_spread": "0.0001", "filled_order_delay_ms": 1000} \
        if strategy == "pure_market_making" else {"min_spread": "0.0001"}  # fmt: skip
    run = backtest_run_create(
        user=alice, **_btc_inputs(strategy=strategy, params=params, slippage_model="none",
                                  latency_ms=100),
    )  # fmt: skip
    assert backtest_run_execute(run_id=run.pk) == "done", BacktestRun.objects.get().error
    run.refresh_from_db()
    fills = run.results["fills"]
    assert fills and all(f["liquidity"] == "maker" for f in fills)
    held = [p[1] for p in run.results["inventory"]]
    assert max(held) > 0 and len(run.results["markers"]) == len(fills)


def test_a_tick_rerun_gives_byte_identical_results(alice, sent, btc_ticks):
    first = backtest_run_create(user=alice, **_btc_inputs())
    second = backtest_run_create(user=alice, **_btc_inputs())
    for run in (first, second):
        backtest_run_execute(run_id=run.pk)
        run.refresh_from_db()

    def dump(run):
        return json.dumps(run.results, sort_keys=True, separators=(",", ":"))

    assert first.status == second.status == "done"
    assert dump(first) == dump(second) and first.data_fingerprint == second.data_fingerprint


def test_the_api_takes_and_returns_the_execution_options(alice_client, sent, btc_ticks):
    body = {**_btc_inputs(), "params": {"fast": 2, "slow": 5}}
    response = alice_client.post("/api/v1/backtests/", body, content_type="application/json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["data_source"], data["slippage_model"], data["latency_ms"]) == (
        "book", "book_walk", 50,
    )  # fmt: skip
    response = alice_client.post(
        "/api/v1/backtests/", {**body, "start": "2021-02-01", "end": "2021-02-02"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "No order-book data" in json.dumps(response.json())


def test_the_loader_reads_trades_and_books_exactly(btc_ticks):
    books = tickfiles.tick_books_load(exchange="binance", symbol="BTC/USDT", start_ms=0,
                                      end_ms=2**62)  # fmt: skip
    first = books[0]
    assert first.ts_ms == 1610064001076
    assert first.best_bid() == (Decimal("39432.99"), Decimal("0.0031"))
    assert first.best_ask() == (Decimal("39433.62"), Decimal("0.066851"))
    trades = tickfiles.tick_trades_load(exchange="binance", symbol="BTC/USDT",
                                        start_ms=1610064000300, end_ms=1610064000380)  # fmt: skip
    assert [(t.ts_ms, t.price, t.side.value) for t in trades] == [
        (1610064000310, 39439.44, "buy"), (1610064000368, 39439.22, "buy"),
    ]  # fmt: skip
    sources = {(s.symbol, s.kind): s for s in tickfiles.tick_sources(exchange="binance")}
    assert sources[("BTC/USDT", "book")].rows == len(books) == 451


def test_quiet_stretches_are_listed():
    gaps = tickfiles.tick_gaps([100, 150, 400], start_ms=0, end_ms=500, quiet_ms=99)
    assert [(g.start_ms, g.end_ms) for g in gaps] == [(0, 100), (150, 400), (400, 500)]
