"""A backtest whose period has no or partial candles in Postgres fetches the missing ranges with
ccxt from the exchange first (marketdata's candle_backfill, against the real sandbox exchange on
loopback), stores them, and reports the ranges that remain in words and with the results.
An exchange that cannot be reached is said so; nothing is invented."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from exchanges.gateway.clients import sync_client
from marketdata.models import Candle
from strategies import services
from strategies.models import BacktestRun
from strategies.services import backtest_run_create, backtest_run_execute, missing_ranges
from tests.conftest import current_minute_ms

MINUTE = 60_000


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@pytest.fixture
def create(alice, monkeypatch, django_capture_on_commit_callbacks, sandbox_url, settings):
    settings.PEREGRINE_SANDBOX_URL = sandbox_url
    monkeypatch.setattr(services, "_enqueue", lambda run_id: None)

    def make(start_ms: int, end_ms: int, exchange="sandbox") -> BacktestRun:
        with django_capture_on_commit_callbacks(execute=True):
            return backtest_run_create(
                user=alice, strategy="sma_cross", params={"fast": 5, "slow": 20},
                exchange=exchange, symbol="BTC/USDT", timeframe="1m", start=_dt(start_ms),
                end=_dt(end_ms), cash="10000",
            )  # fmt: skip

    return make


def _stored(start_ms, end_ms) -> int:
    return Candle.objects.filter(
        exchange="sandbox", symbol="BTC/USDT", timeframe="1m",
        ts__gte=_dt(start_ms), ts__lt=_dt(end_ms),
    ).count()  # fmt: skip


@pytest.mark.django_db
def test_an_empty_period_is_fetched_from_the_exchange_then_only_its_holes(create):
    minute = current_minute_ms()
    start, end = minute - 300 * MINUTE, minute - 60 * MINUTE  # 240 closed bars
    assert _stored(start, end) == 0
    first = create(start, end)
    assert backtest_run_execute(run_id=first.pk) == "done"
    first.refresh_from_db()
    assert first.bars_total == 240 and _stored(start, end) == 240
    assert first.warnings[0] == (
        "Fetched 240 of the 240 missing bars from sandbox before the run"
    ), first.warnings
    assert first.results["gaps"] == [] and first.results["metrics"]["trade_count"] > 0
    assert Candle.objects.filter(exchange="sandbox", timeframe="5m").exists()  # derived
    # a hole in the stored bars is fetched again, and only it; the results are the same
    Candle.objects.filter(
        exchange="sandbox", timeframe="1m", ts__gte=_dt(start + 100 * MINUTE),
        ts__lt=_dt(start + 110 * MINUTE),
    ).delete()  # fmt: skip
    second = create(start, end)
    assert backtest_run_execute(run_id=second.pk) == "done"
    second.refresh_from_db()
    assert second.warnings[0] == "Fetched 10 of the 10 missing bars from sandbox before the run"
    dump = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert dump(second.results) == dump(first.results)
    assert second.data_fingerprint == first.data_fingerprint
    # all stored now: nothing is fetched and nothing said
    third = create(start, end)
    backtest_run_execute(run_id=third.pk)
    third.refresh_from_db()
    assert not any("missing" in w for w in third.warnings), third.warnings


@pytest.mark.django_db
def test_bars_the_exchange_does_not_have_remain_and_are_reported_as_ranges(
    create, sandbox_url, alice
):
    minute = current_minute_ms()
    client = sync_client("sandbox", sandbox_url=sandbox_url)
    oldest = client.fetch_ohlcv("BTC/USDT", "1m", 0, 1)[0][0]  # the exchange's first bar
    start, end = oldest - 30 * MINUTE, oldest + 90 * MINUTE
    assert end < minute
    run = create(start, end)
    assert backtest_run_execute(run_id=run.pk) == "done"
    run.refresh_from_db()
    assert run.bars_total == 90
    assert run.results["gaps"] == [{"start_ms": start, "end_ms": oldest - MINUTE, "bars": 30}]
    assert run.warnings[0] == "Fetched 90 of the 120 missing bars from sandbox before the run"
    first, last = _dt(start), _dt(oldest - MINUTE)
    span = f"{first:%Y-%m-%d %H:%M} → {last:%H:%M}" if first.date() == last.date() else (
        f"{first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M}"
    )  # fmt: skip
    words = f"Still missing: {span} UTC (30 bars)"
    assert words in run.warnings, run.warnings
    page = Client()
    page.force_login(alice)
    html = page.get(reverse("strategies:backtest-detail", args=[run.pk])).content.decode()
    assert words in html and "Fetched 90 of the 120 missing bars" in html


@pytest.mark.django_db
def test_an_exchange_that_cannot_be_reached_is_said_so_and_nothing_is_stored(create, settings):
    minute = current_minute_ms()
    settings.PEREGRINE_SANDBOX_URL = "http://127.0.0.1:9"  # nothing listens there
    run = create(minute - 120 * MINUTE, minute - 60 * MINUTE)
    assert backtest_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.error.startswith("no candles for BTC/USDT 1m on sandbox between")
    assert "Missing history could not be fetched from sandbox" in run.error
    assert not Candle.objects.filter(exchange="sandbox").exists()


@pytest.mark.django_db
def test_an_exchange_not_allowed_to_fetch_is_left_alone(create, settings):
    settings.PEREGRINE_BACKTEST_FETCH_HISTORY = "none"
    minute = current_minute_ms()
    run = create(minute - 120 * MINUTE, minute - 60 * MINUTE)
    assert backtest_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.error == (
        "no candles for BTC/USDT 1m on sandbox between "
        f"{run.start:%Y-%m-%d %H:%M} and {run.end:%Y-%m-%d %H:%M} UTC"
    )
    assert not Candle.objects.filter(exchange="sandbox").exists()
    settings.PEREGRINE_BACKTEST_FETCH_HISTORY = "sandbox"
    assert not services.history_fetch_allowed("binance")
    settings.PEREGRINE_BACKTEST_FETCH_HISTORY = "all"
    assert services.history_fetch_allowed("binance") and services.history_fetch_allowed("sandbox")
    assert not services.history_fetch_allowed("no-such-exchange")


def test_missing_ranges_by_hand():
    step = 60
    # period [0, 600): bars 0..540; stored 120, 180, 360 -> missing 0-60, 240-300, 420-540
    gaps = missing_ranges([120, 180, 360], start_ms=0, end_ms=600, step=step)
    assert [(g.start_ms, g.end_ms, g.missing) for g in gaps] == [
        (0, 60, 2), (240, 300, 2), (420, 540, 3),
    ]  # fmt: skip
    assert [
        (g.start_ms, g.missing) for g in missing_ranges([], start_ms=30, end_ms=200, step=step)
    ] == [(60, 3)]
    assert missing_ranges([0, 60, 120], start_ms=0, end_ms=180, step=step) == []
    words = services.gaps_words(gaps, step)
    assert words.startswith("Still missing: 1970-01-01 00:00 → 00:00 UTC (2 bars)")


@pytest.mark.django_db
def test_the_form_offers_sandbox_markets_without_candles_to_fetch(alice_client, sandbox_url):
    from marketdata.models import Instrument

    Instrument.objects.create(exchange="sandbox", symbol="ETH/USDT", base="ETH", quote="USDT")
    Instrument.objects.create(exchange="kraken", symbol="ETH/USDT", base="ETH", quote="USDT")
    page = alice_client.get(reverse("strategies:backtest-list")).content.decode()
    assert 'value="sandbox|ETH/USDT"' in page and "fetched from the exchange when run" in page
    assert 'value="kraken|ETH/USDT"' not in page  # only the sandbox venues are listed
    assert "No candles are stored yet" not in page
