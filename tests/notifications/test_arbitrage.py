"""Arbitrage opportunities from the collectors' tickers reach channels above their threshold."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal as D

import pytest
import redis
from django.conf import settings

from notifications.arbitrage import arbitrage_opportunities
from notifications.services import arbitrage_scan_notify

pytestmark = pytest.mark.usefixtures("eager_celery")


@pytest.fixture
def tickers():
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = []

    def publish(exchange, symbol, bid, ask, *, age_ms=0):
        key = f"market:{exchange}:{symbol}:ticker"
        ts = int(time.time() * 1000) - age_ms
        client.set(key, json.dumps({"ts": ts, "bid": bid, "ask": ask, "last": bid}), ex=60)
        keys.append(key)

    yield publish
    if keys:
        client.delete(*keys)


@pytest.fixture
def venues():
    run = uuid.uuid4().hex[:6]
    return f"arb-a-{run}", f"arb-b-{run}", f"arb-c-{run}"


def test_the_best_bid_above_the_best_ask_elsewhere_is_an_opportunity(tickers, venues):
    a, b, c = venues
    tickers(a, "BTC/USDT", 99.9, 100.0)
    tickers(b, "BTC/USDT", 101.5, 101.6)
    tickers(c, "BTC/USDT", 100.9, 101.0)
    tickers(a, "ETH/USDT", 10.0, 10.01)
    tickers(b, "ETH/USDT", 10.0, 10.02)  # no cross: nothing
    tickers(c, "SOL/USDT", 5, 6)  # one venue only
    found = arbitrage_opportunities({a: ["BTC/USDT", "ETH/USDT"], b: ["BTC/USDT", "ETH/USDT"],
                                     c: ["BTC/USDT", "SOL/USDT"]})  # fmt: skip
    assert [(o.symbol, o.buy_on, o.sell_on, o.spread_pct) for o in found] == [
        ("BTC/USDT", a, b, D("1.5"))
    ]


def test_stale_tickers_do_not_count(tickers, venues):
    a, b, _ = venues
    tickers(a, "BTC/USDT", 99.9, 100.0)
    tickers(b, "BTC/USDT", 105, 105.1, age_ms=60_000)
    assert arbitrage_opportunities({a: ["BTC/USDT"], b: ["BTC/USDT"]}) == []


def test_subscribers_above_their_threshold_are_told_once(
    alice, bob, tickers, venues, hook_server, make_channel, django_capture_on_commit_callbacks
):
    a, b, _ = venues
    make_channel(
        alice,
        target=hook_server.url(path="/alice"),
        events=["arbitrage_opportunity"],
        arbitrage_min_spread_pct="1.0",
    )
    make_channel(
        bob,
        target=hook_server.url(path="/bob"),
        events=["arbitrage_opportunity"],
        arbitrage_min_spread_pct="2.0",
    )
    markets = {a: ["BTC/USDT"], b: ["BTC/USDT"]}
    tickers(a, "BTC/USDT", 99.9, 100.0)
    tickers(b, "BTC/USDT", 101.5, 101.6)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            found = arbitrage_scan_notify(markets=markets)
        assert found == 1, arbitrage_opportunities(markets)
    assert [r.path for r in hook_server.received] == ["/alice"]
    payload = hook_server.received[0].json()
    assert payload["title"] == f"BTC/USDT: 1.50% between {a} and {b}"
    assert f"Buy BTC/USDT on {a} at 100.0 and sell on {b} at 101.5" in payload["message"]

    tickers(b, "BTC/USDT", 100.5, 100.6)  # 0.5%: below everyone's threshold
    with django_capture_on_commit_callbacks(execute=True):
        assert arbitrage_scan_notify(markets=markets) == 0
    assert len(hook_server.received) == 1


def test_nobody_subscribed_means_no_scan(db, tickers, venues):
    a, b, _ = venues
    tickers(a, "BTC/USDT", 99.9, 100.0)
    tickers(b, "BTC/USDT", 110, 110.1)
    assert arbitrage_scan_notify(markets={a: ["BTC/USDT"], b: ["BTC/USDT"]}) == 0


def test_the_beat_task_scans_the_collected_markets(
    alice, tickers, venues, hook_server, make_channel, settings, django_capture_on_commit_callbacks
):
    import marketdata.tasks  # noqa: F401  (a heavy import: done before the tickers age)
    from notifications.tasks import arbitrage_scan_task

    a, b, _ = venues
    settings.PEREGRINE_COLLECTORS = [f"{a}:BTC/USDT|ETH/USDT", f"{b}:BTC/USDT"]
    make_channel(alice, target=hook_server.url(), events=["arbitrage_opportunity"])
    tickers(a, "BTC/USDT", 99.9, 100.0)
    tickers(b, "BTC/USDT", 100.9, 101.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert arbitrage_scan_task() == 1
    assert hook_server.received[0].json()["title"] == f"BTC/USDT: 0.90% between {a} and {b}"
    entry = settings.CELERY_BEAT_SCHEDULE["notifications-arbitrage-scan"]
    assert entry["task"] == "notifications.tasks.arbitrage_scan_task"
