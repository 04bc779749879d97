"""Market data API: candles by range, latest ticker and book; sign-in required."""

import json

import pytest
import redis
from django.conf import settings

from marketdata.publish import book_key, ticker_key
from marketdata.services.candles import candle_upsert

pytestmark = pytest.mark.django_db
T0 = 1_620_000_000_000


@pytest.fixture
def candles():
    bars = [(T0 + i * 60_000, "10.5", "11", "10", "10.75", "1.25", 4) for i in range(10)]
    candle_upsert(exchange="sandbox", symbol="BTC/USDT", timeframe="1m", bars=bars)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_candles_by_range_are_exact_decimals(alice_client, candles):
    response = alice_client.get(
        "/api/v1/marketdata/candles/",
        {
            "exchange": "sandbox",
            "symbol": "BTC/USDT",
            "timeframe": "1m",
            "start": T0 + 120_000,
            "end": T0 + 300_000,
        },
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["ts"] for r in results] == [T0 + 120_000, T0 + 180_000, T0 + 240_000]
    assert results[0]["open"] == "10.500000000000000000" and results[0]["trade_count"] == 4


def test_latest_candles_without_a_start(alice_client, candles):
    response = alice_client.get(
        "/api/v1/marketdata/candles/", {"exchange": "sandbox", "symbol": "BTC/USDT", "limit": 3}
    )
    assert [r["ts"] for r in response.json()["results"]] == [T0 + i * 60_000 for i in (7, 8, 9)]


def test_bad_input_gets_field_errors(alice_client):
    response = alice_client.get(
        "/api/v1/marketdata/candles/",
        {"exchange": "sandbox", "symbol": "BTC/USDT", "timeframe": "7m", "start": 5, "end": 2},
    )
    assert response.status_code == 400
    assert "timeframe" in response.json()["error"]["fields"]


def test_anonymous_is_refused(anonymous_client, candles):
    response = anonymous_client.get(
        "/api/v1/marketdata/candles/", {"exchange": "sandbox", "symbol": "BTC/USDT"}
    )
    assert response.status_code in (401, 403)
    assert anonymous_client.get(
        "/api/v1/marketdata/book/", {"exchange": "sandbox", "symbol": "BTC/USDT"}
    ).status_code in (401, 403)


def test_ticker_and_book_come_from_redis(alice_client):
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(
        ticker_key("api-test", "ETH/USDT"), json.dumps({"bid": 1.5, "ask": 1.6, "last": 1.55})
    )
    client.set(
        book_key("api-test", "ETH/USDT"), json.dumps({"bids": [[1.5, 2]], "asks": [[1.6, 3]]})
    )
    try:
        ticker = alice_client.get(
            "/api/v1/marketdata/ticker/", {"exchange": "api-test", "symbol": "ETH/USDT"}
        )
        assert ticker.status_code == 200 and ticker.json()["last"] == 1.55
        book = alice_client.get(
            "/api/v1/marketdata/book/", {"exchange": "api-test", "symbol": "ETH/USDT"}
        )
        assert book.json()["asks"] == [[1.6, 3]]
        missing = alice_client.get(
            "/api/v1/marketdata/ticker/", {"exchange": "api-test", "symbol": "NOPE/USDT"}
        )
        assert missing.status_code == 404
    finally:
        client.delete(ticker_key("api-test", "ETH/USDT"), book_key("api-test", "ETH/USDT"))
