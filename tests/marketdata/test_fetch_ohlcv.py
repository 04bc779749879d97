"""History download with the unmodified ccxt client from the sandbox exchange."""

import time
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from exchanges.gateway.clients import sync_client
from marketdata.models import Candle
from marketdata.services.candles import candle_gaps, dt_to_ms
from marketdata.services.history import candle_backfill, ohlcv_fetch_history
from tests.conftest import current_minute_ms

pytestmark = pytest.mark.django_db


def test_paginated_fetch_stores_closed_bars_and_resumes(sandbox_url):
    client = sync_client("sandbox", sandbox_url=sandbox_url)
    since = current_minute_ms() - 250 * 60_000
    report = ohlcv_fetch_history(
        client=client,
        exchange="sandbox",
        symbol="BTC/USDT",
        timeframe="1m",
        since_ms=since,
        page_limit=100,
    )
    assert report.pages >= 3
    assert report.candles == 250
    stored = list(Candle.objects.filter(timeframe="1m").order_by("ts"))
    assert dt_to_ms(stored[0].ts) == since
    assert dt_to_ms(stored[-1].ts) + 60_000 <= int(time.time() * 1000)  # never the forming bar
    theirs = {b[0]: b for b in client.fetch_ohlcv("BTC/USDT", "1m", since, 100)}
    for bar in stored[:100]:
        assert float(bar.close) == theirs[dt_to_ms(bar.ts)][4]
    again = ohlcv_fetch_history(
        client=client,
        exchange="sandbox",
        symbol="BTC/USDT",
        timeframe="1m",
        since_ms=since,
        page_limit=100,
    )
    assert again.start_ms == dt_to_ms(stored[-1].ts) + 60_000  # resumed, not refetched
    assert again.candles <= 1


def test_backfill_fills_the_gaps(sandbox_url):
    client = sync_client("sandbox", sandbox_url=sandbox_url)
    start = current_minute_ms() - 120 * 60_000
    end = start + 100 * 60_000
    ohlcv_fetch_history(
        client=client,
        exchange="sandbox",
        symbol="ETH/USDT",
        timeframe="1m",
        since_ms=start,
        until_ms=end,
    )
    victims = Candle.objects.filter(timeframe="1m").order_by("ts")[10:25]
    Candle.objects.filter(symbol="ETH/USDT", ts__in=[c.ts for c in victims]).delete()
    gaps = candle_gaps(
        exchange="sandbox", symbol="ETH/USDT", timeframe="1m", start_ms=start, end_ms=end
    )
    assert [g.missing for g in gaps] == [15]
    remaining = candle_backfill(
        client=client,
        exchange="sandbox",
        symbol="ETH/USDT",
        timeframe="1m",
        start_ms=start,
        end_ms=end,
    )
    assert remaining == []
    assert Candle.objects.filter(timeframe="1m").count() == 100
    assert Candle.objects.filter(timeframe="1h").exists()


def test_fetch_ohlcv_command(sandbox_url, settings):
    settings.PEREGRINE_SANDBOX_URL = sandbox_url
    since = datetime.fromtimestamp((current_minute_ms() - 30 * 60_000) / 1000, UTC).isoformat()
    call_command("fetch_ohlcv", "sandbox-b", "ETH/BTC", "1m", "--since", since)
    assert (
        Candle.objects.filter(exchange="sandbox-b", symbol="ETH/BTC", timeframe="1m").count() == 30
    )
    assert Candle.objects.filter(exchange="sandbox-b", timeframe="5m").count() in (6, 7)
