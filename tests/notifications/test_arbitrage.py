"""Arbitrage opportunities in the collectors' books reach channels above their threshold, net of
both venues' taker fees and the book walk, as the arbitrage tracker prices them."""

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
    """Stands in for a collector: a one-level book (1000 units a side) and its ticker."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = []

    def publish(exchange, symbol, bid, ask, *, age_ms=0):
        ts = int(time.time() * 1000) - age_ms
        ticker_key, book_key = (
            f"market:{exchange}:{symbol}:ticker",
            f"market:{exchange}:{symbol}:book",
        )
        client.set(ticker_key, json.dumps({"ts": ts, "bid": bid, "ask": ask, "last": bid}), ex=60)
        book = {"ts": ts, "bids": [[bid, 1000]], "asks": [[ask, 1000]]}
        client.set(book_key, json.dumps(book), ex=60)
        keys.extend([ticker_key, book_key, f"marketdata:venue-costs:{exchange}"])

    yield publish
    if keys:
        client.delete(*keys)


def net_pct(bid, ask):
    """Sell at `bid` less 0.1%, buy at `ask` plus 0.1% (no exchange of these names: the
    assumed fee on both venues), in percent."""
    return (D(str(bid)) * D("0.999") / (D(str(ask)) * D("1.001")) - 1) * 100


@pytest.fixture
def venues(db):  # a market's lot may come from its stored instrument
    run = uuid.uuid4().hex[:6]
    return f"arb-a-{run}", f"arb-b-{run}", f"arb-c-{run}"


def test_a_bid_above_an_ask_elsewhere_by_more_than_the_fees_is_an_opportunity(tickers, venues):
    a, b, c = venues
    tickers(a, "BTC/USDT", 99.9, 100.0)
    tickers(b, "BTC/USDT", 101.5, 101.6)
    tickers(c, "BTC/USDT", 100.9, 101.0)
    tickers(a, "ETH/USDT", 10.0, 10.01)
    tickers(b, "ETH/USDT", 10.0, 10.02)  # no cross: nothing
    tickers(c, "SOL/USDT", 5, 6)  # one venue only
    found = arbitrage_opportunities({a: ["BTC/USDT", "ETH/USDT"], b: ["BTC/USDT", "ETH/USDT"],
                                     c: ["BTC/USDT", "SOL/USDT"]})  # fmt: skip
    # every venue pair in its better direction, net of 0.2% of fees: c -> b still pays
    assert [(o.symbol, o.buy_on, o.sell_on) for o in found] == [
        ("BTC/USDT", a, b),
        ("BTC/USDT", a, c),
        ("BTC/USDT", c, b),
    ]
    assert [o.spread_pct for o in found] == pytest.approx(
        [net_pct(101.5, 100.0), net_pct(100.9, 100.0), net_pct(101.5, 101.0)], abs=D("1e-20")
    )
    assert found[0].qty == 10  # the tracker's default size, 1000 USDT, at 100
    assert found[0].fee_pct == D("0.2")


def test_a_spread_smaller_than_the_fees_is_no_opportunity(tickers, venues):
    a, b, _ = venues
    tickers(a, "BTC/USDT", 99.9, 100.0)
    tickers(b, "BTC/USDT", 100.15, 100.25)  # 15 bp above: less than 20 bp of fees
    assert arbitrage_opportunities({a: ["BTC/USDT"], b: ["BTC/USDT"]}) == []


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
    assert payload["title"] == f"BTC/USDT: {net_pct(101.5, 100):.2f}% between {a} and {b}"
    assert payload["title"] == f"BTC/USDT: 1.30% between {a} and {b}"
    assert (
        f"Buy 10 BTC on {a} at 100 and sell on {b} at 101.5 (average prices walking the "
        "books): 1.30% after 0.20% of taker fees." in payload["message"]
    )

    tickers(b, "BTC/USDT", 100.5, 100.6)  # 0.30% after fees: below everyone's threshold
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
    # 100.9 * 0.999 / (100 * 1.001) - 1: 0.70% after fees (0.90% before)
    assert hook_server.received[0].json()["title"] == f"BTC/USDT: 0.70% between {a} and {b}"
    entry = settings.CELERY_BEAT_SCHEDULE["notifications-arbitrage-scan"]
    assert entry["task"] == "notifications.tasks.arbitrage_scan_task"
