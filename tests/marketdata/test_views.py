"""Markets pages: the market list and one market's page with candles from Postgres and the
book and ticker from Redis; the candles JSON the chart draws from."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.urls import reverse

from marketdata import selectors
from marketdata.models import Instrument
from marketdata.publish import book_key, ticker_key
from marketdata.services.candles import candle_derive_all, candle_upsert

pytestmark = pytest.mark.django_db
DAY = 86_400_000
T0 = 1_620_000_000_000 - 1_620_000_000_000 % DAY  # a UTC midnight


@pytest.fixture
def venue() -> str:
    """An exchange name of this test's own: Redis keys never meet another run's."""
    return f"mkt{secrets.token_hex(3)}"


@pytest.fixture
def live(venue):
    """Stands in for a collector: the latest book and ticker in Redis."""
    client = redis.Redis.from_url(settings.REDIS_URL)

    def put(symbol="BTC/USDT", *, bids, asks, last):
        book = {"type": "book", "exchange": venue, "symbol": symbol, "ts": T0, "bids": bids,
                "asks": asks, "nonce": None}  # fmt: skip
        ticker = {"type": "ticker", "exchange": venue, "symbol": symbol, "ts": T0,
                  "bid": bids[0][0], "ask": asks[0][0], "last": last}  # fmt: skip
        client.set(book_key(venue, symbol), json.dumps(book), ex=600)
        client.set(ticker_key(venue, symbol), json.dumps(ticker), ex=600)

    yield put
    client.delete(*client.keys(f"market:{venue}:*") or ["-"])
    client.close()


def minute_bars(n, start=T0):
    """1m bars with distinct prices: bar i opens 100+i, high 101+i, low 99+i, closes 100.5+i."""
    return [
        (start + i * 60_000, f"{100 + i}", f"{101 + i}", f"{99 + i}", f"{100 + i}.5", f"{i + 1}", 2)
        for i in range(n)
    ]


@pytest.fixture
def btc(venue):
    Instrument.objects.create(
        exchange=venue, symbol="BTC/USDT", base="BTC", quote="USDT",
        price_step=Decimal("0.01"), amount_step=Decimal("0.0001"),
    )  # fmt: skip
    return venue


def detail_url(venue, slug="BTC-USDT"):
    return reverse("marketdata:market-detail", args=[venue, slug])


def candles_url(venue, slug="BTC-USDT"):
    return reverse("marketdata:market-candles", args=[venue, slug])


def test_market_list_shows_every_market_with_last_price_and_spread(alice_client, btc, live):
    # ETH/USDT has candles but no Instrument row: it is collected too
    candle_upsert(exchange=btc, symbol="ETH/USDT", timeframe="1m", bars=minute_bars(3))
    live(bids=[[30000.5, 1.0]], asks=[[30001.5, 2.0]], last=30001.0)
    response = alice_client.get(reverse("marketdata:market-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert detail_url(btc) in html and detail_url(btc, "ETH-USDT") in html
    assert "30,001.00" in html  # last
    assert "1.00" in html and "0.33" in html  # spread 1.00 = 0.33 bp of 30,001
    rows = selectors.market_list()
    mine = [(r["market"].exchange, r["market"].symbol) for r in rows if r["market"].exchange == btc]
    assert mine == [(btc, "BTC/USDT"), (btc, "ETH/USDT")]
    eth = next(r for r in rows if r["market"].symbol == "ETH/USDT")
    assert eth["last"] is None and eth["spread"] is None  # no collector running: dashes


def test_market_detail_shows_ticker_ladder_and_24h_change(alice_client, btc, live):
    # a bar 24 h before the latest one closes at 100.5; the latest at 120.5 -> +20 (+19.90%)
    candle_upsert(exchange=btc, symbol="BTC/USDT", timeframe="1m", bars=minute_bars(1))
    candle_upsert(
        exchange=btc, symbol="BTC/USDT", timeframe="1m",
        bars=[(T0 + DAY, "120", "121", "119", "120.5", "1", 1)],
    )  # fmt: skip
    live(bids=[[120.25, 1.5], [120.0, 2.0]], asks=[[120.75, 0.5], [121.0, 3.0]], last=None)
    response = alice_client.get(detail_url(btc))
    assert response.status_code == 200
    html = response.content.decode()
    summary = response.context["summary"]
    assert summary["last"] == Decimal("120.5")  # no trade seen live: the latest close
    assert summary["change"] == Decimal("20")
    assert round(summary["change_pct"], 2) == Decimal("19.90")
    assert summary["spread"] == Decimal("0.5")
    assert "20.00 (19.90%)" in html
    book = response.context["book"]
    assert [(lv["price"], lv["total"]) for lv in book["bids"]] == [
        (Decimal("120.25"), Decimal("1.5")),
        (Decimal("120.0"), Decimal("3.5")),
    ]
    assert [lv["total"] for lv in book["asks"]] == [Decimal("0.5"), Decimal("3.5")]
    assert html.count('<tr class="bid"') == 2 and html.count('<tr class="ask"') == 2
    assert 'data-socket-path="/ws/markets/' + btc + '/BTC-USDT/"' in html


def test_market_detail_without_live_data_says_so(alice_client, btc):
    candle_upsert(exchange=btc, symbol="BTC/USDT", timeframe="1m", bars=minute_bars(2))
    html = alice_client.get(detail_url(btc)).content.decode()
    assert "No live book" in html


def test_unknown_market_is_404(alice_client, btc):
    assert alice_client.get(detail_url(btc, "DOGE-USDT")).status_code == 404
    assert alice_client.get(detail_url("nowhere")).status_code == 404
    response = alice_client.get(candles_url(btc, "DOGE-USDT"), {"timeframe": "1m"})
    assert response.status_code == 404 and response.json() == {"error": "no such market"}


def test_bad_timeframe_gets_400_with_the_valid_choices(alice_client, btc):
    response = alice_client.get(candles_url(btc), {"timeframe": "7m"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "unsupported timeframe '7m'; use one of 1m, 5m, 15m, 1h, 4h, 1d"
    }
    assert alice_client.get(candles_url(btc), {"limit": "lots"}).status_code == 400


def test_candles_resampled_from_1m_match_hand_computation(alice_client, btc):
    # 12 one-minute bars, no stored 5m: 5m bars at 0, 5 and 10 (the last one forming, 2 bars)
    candle_upsert(exchange=btc, symbol="BTC/USDT", timeframe="1m", bars=minute_bars(12))
    response = alice_client.get(candles_url(btc), {"timeframe": "5m"})
    assert response.status_code == 200
    body = response.json()
    assert body["timeframe"] == "5m" and body["timeframe_seconds"] == 300
    # bar 0: minutes 0-4: open 100, high max(101..105)=105, low min(99..103)=99, close 104.5,
    # volume 1+2+3+4+5 = 15; bar 1: minutes 5-9: 105, 110, 104, 109.5, 6+..+10 = 40
    assert body["candles"] == [
        {"time": T0 // 1000, "open": "100", "high": "105", "low": "99", "close": "104.5",
         "volume": "15"},
        {"time": T0 // 1000 + 300, "open": "105", "high": "110", "low": "104", "close": "109.5",
         "volume": "40"},
        {"time": T0 // 1000 + 600, "open": "110", "high": "112", "low": "109", "close": "111.5",
         "volume": "23"},
    ]  # fmt: skip


def test_stored_timeframe_is_read_in_one_query_and_agrees_with_resampling(
    alice_client, btc, django_assert_num_queries
):
    candle_upsert(exchange=btc, symbol="BTC/USDT", timeframe="1m", bars=minute_bars(120))
    resampled = alice_client.get(candles_url(btc), {"timeframe": "15m"}).json()["candles"]
    candle_derive_all(exchange=btc, symbol="BTC/USDT")
    market = selectors.market_get(exchange=btc, symbol="BTC/USDT")
    with django_assert_num_queries(1):
        bars = selectors.market_candles(market=market, timeframe="15m", limit=3)
    assert [b.ts_ms for b in bars] == [T0 + i * 900_000 for i in (5, 6, 7)]
    stored = alice_client.get(candles_url(btc), {"timeframe": "15m"}).json()["candles"]
    assert stored == resampled and len(stored) == 8


def test_market_page_reads_are_single_indexed_queries(btc, django_assert_num_queries):
    candle_upsert(exchange=btc, symbol="BTC/USDT", timeframe="1m", bars=minute_bars(5))
    with django_assert_num_queries(1):
        market = selectors.market_get(exchange=btc, symbol="BTC/USDT")
    with django_assert_num_queries(1):
        selectors.market_summary(market=market)
    with django_assert_num_queries(1):
        selectors.market_candles(market=market, timeframe="1m")


def test_latest_bars_only_up_to_the_limit(alice_client, btc):
    candle_upsert(exchange=btc, symbol="BTC/USDT", timeframe="1m", bars=minute_bars(30))
    body = alice_client.get(candles_url(btc), {"timeframe": "1m", "limit": 5}).json()
    assert [c["time"] for c in body["candles"]] == [T0 // 1000 + 60 * i for i in range(25, 30)]


@pytest.mark.parametrize("name", ["list", "detail", "candles"])
def test_anonymous_is_sent_to_login(anonymous_client, btc, name):
    urls = {
        "list": reverse("marketdata:market-list"),
        "detail": detail_url(btc),
        "candles": candles_url(btc),
    }
    response = anonymous_client.get(urls[name])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_symbol_slugs_round_trip():
    for symbol in ("BTC/USDT", "BTC/USDT:USDT", "BTC/USD:BTC-240628"):
        assert selectors.symbol_from_slug(selectors.symbol_to_slug(symbol)) == symbol


def test_password_only_session_of_a_2fa_user_does_not_see_markets(alice, alice_totp, client, btc):
    client.force_login(alice)  # signed in, but not past the OTP step
    response = client.get(reverse("marketdata:market-list"))
    assert response.status_code in (302, 403)
    assert b"BTC/USDT" not in response.content
