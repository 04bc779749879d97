"""The arbitrage scan task prices the collectors' books in Redis with the venues' own fees,
keeps how long each edge has been open, and keeps an hour of history."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
import redis
from django.conf import settings as django_settings

from exchanges.sandbox.testing import start_sandbox
from marketdata import costs
from marketdata.models import ArbitrageSighting
from marketdata.services.arbitrage import (
    SIZES_KEY,
    SizeError,
    arbitrage_scan,
    arbitrage_size_parse,
    arbitrage_size_request,
    arbitrage_sizes,
)
from marketdata.tasks import arbitrage_spread_scan_task
from tests.trading.conftest import VENUE_A, VENUE_B, market  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sandbox():
    """Two sandbox venues of this run's own, stopped with the module (its server thread holds
    a database connection that later transactional tests must not wait for)."""
    server, url = start_sandbox(venues=[VENUE_A, VENUE_B])
    yield server, url
    server.stop_thread()


@pytest.fixture
def sandbox_url(sandbox, settings) -> str:
    settings.PEREGRINE_SANDBOX_URL = sandbox[1]
    settings.PEREGRINE_SANDBOX_VENUES = [*settings.PEREGRINE_SANDBOX_VENUES, VENUE_A, VENUE_B]
    return sandbox[1]


@pytest.fixture
def forget_costs():
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    names = []

    def forget(*venues):
        names.extend(venues)
        client.delete(*[costs.cache_key(v) for v in venues])

    yield forget
    if names:
        client.delete(*[costs.cache_key(v) for v in names])
    costs.costs_forget()


@pytest.fixture
def venues(forget_costs):
    """Two venues no exchange knows (their fee is assumed) and one of this run's own."""
    run = secrets.token_hex(3)
    names = (f"arb{run}a", f"arb{run}b")
    forget_costs(*names)
    return names


def net_of(bid, ask, buy_fee, sell_fee):
    """The independent figure: sell 1 unit at `bid` after its fee, pay `ask` plus its fee."""
    return D(bid) * (1 - D(sell_fee)) / (D(ask) * (1 + D(buy_fee))) - 1


def test_the_task_prices_the_sandbox_venues_with_their_own_taker_fees(
    market,  # noqa: F811
    sandbox_url,
    settings,
    forget_costs,
):
    forget_costs(VENUE_A, VENUE_B)
    redis.Redis.from_url(django_settings.REDIS_URL).delete(SIZES_KEY)  # no size asked lately
    settings.PEREGRINE_COLLECTORS = [f"{VENUE_A}:BTC/USDT", f"{VENUE_B}:BTC/USDT"]
    settings.PEREGRINE_ARBITRAGE_SIZES = ["100"]
    market.book(VENUE_A, "BTC/USDT", "99.9", "100", size="2")
    market.book(VENUE_B, "BTC/USDT", "100.5", "100.6", size="2")
    try:
        assert arbitrage_spread_scan_task() == 1
    finally:
        market.clear(VENUE_A, "BTC/USDT")
        market.clear(VENUE_B, "BTC/USDT")
    row = ArbitrageSighting.objects.get()
    # the sandbox speaks Binance: ccxt's binance markets quote a 0.1% taker fee
    assert costs.taker_cost(exchange=VENUE_A, symbol="BTC/USDT") == D("0.001")
    assert (row.market, row.buy_exchange, row.sell_exchange) == ("BTC/USDT", VENUE_A, VENUE_B)
    assert row.fee_source == "venue"
    assert row.qty == 1  # 100 USDT at the best ask of 100
    expected = D("100.5") * D("0.999") / (D("100") * D("1.001")) - 1  # 30.0 bp
    assert row.net_bp == (expected * 10_000).quantize(D("0.000001"))
    assert row.gross_bp == D("50")
    assert row.fee_bp == D("20")
    assert row.net_usdt == pytest.approx(D("100.5") * D("0.999") - D("100.1"), abs=D("1e-15"))
    assert row.opened_at == row.scanned_at


def test_an_edge_keeps_its_opening_time_while_it_lasts(market, venues, settings):  # noqa: F811
    a, b = venues
    settings.PEREGRINE_ARBITRAGE_SCAN_SECONDS = 2
    markets = {a: ["BTC/USDT"], b: ["BTC/USDT"]}
    t0 = datetime.now(UTC)
    try:
        market.book(a, "BTC/USDT", "99.9", "100")
        market.book(b, "BTC/USDT", "100.9", "101")
        first = arbitrage_scan(markets=markets, sizes=[D(50)], now=t0)
        second = arbitrage_scan(markets=markets, sizes=[D(50)], now=t0 + timedelta(seconds=2))
        market.book(b, "BTC/USDT", "100.05", "100.15")  # 5 bp: less than the 20 bp of fees
        third = arbitrage_scan(markets=markets, sizes=[D(50)], now=t0 + timedelta(seconds=4))
        market.book(b, "BTC/USDT", "100.9", "101")
        fourth = arbitrage_scan(markets=markets, sizes=[D(50)], now=t0 + timedelta(seconds=6))
    finally:
        market.clear(a, "BTC/USDT")
        market.clear(b, "BTC/USDT")
    assert first[0].fee_source == "assumed"  # no exchange of that name: the default 0.1%
    assert first[0].net_bp == (net_of("100.9", "100", "0.001", "0.001") * 10_000).quantize(
        D("0.000001")
    )
    assert [r.opened_at for r in (first[0], second[0], fourth[0])] == [
        t0,
        t0,
        t0 + timedelta(seconds=6),
    ]
    assert third[0].net_bp < 0 and third[0].opened_at is None


def test_stale_crossed_or_one_sided_books_are_not_priced(market, venues):  # noqa: F811
    a, b = venues
    markets = {a: ["BTC/USDT"], b: ["BTC/USDT"]}
    try:
        market.book(a, "BTC/USDT", "99.9", "100")
        market.book(b, "BTC/USDT", "105", "105.1", ts=1)  # a collector that stopped long ago
        assert arbitrage_scan(markets=markets, sizes=[D(50)]) == []
        market.book(b, "BTC/USDT", "105", "104")  # crossed
        assert arbitrage_scan(markets=markets, sizes=[D(50)]) == []
    finally:
        market.clear(a, "BTC/USDT")
        market.clear(b, "BTC/USDT")


def test_a_venues_stored_costs_are_what_the_scan_charges(market, venues):  # noqa: F811
    a, b = venues
    costs.venue_costs_store(exchange=b, markets={"BTC/USDT": {"taker": "0.0025", "tick": "0.1",
                            "lot": "0.5"}}, withdraw={"BTC": "0.01"}, seconds=60)  # fmt: skip
    try:
        market.book(a, "BTC/USDT", "99.9", "100")
        market.book(b, "BTC/USDT", "101.9", "102")
        (buy_a,) = arbitrage_scan(markets={a: ["BTC/USDT"], b: ["BTC/USDT"]}, sizes=[D(100)])
        market.book(a, "BTC/USDT", "103.9", "104")
        (buy_b,) = arbitrage_scan(markets={a: ["BTC/USDT"], b: ["BTC/USDT"]}, sizes=[D(100)])
    finally:
        market.clear(a, "BTC/USDT")
        market.clear(b, "BTC/USDT")
    # buying on a (0.1%), selling on b (0.25%); no withdrawal fee known on a
    assert buy_a.fee_bp == D(35) and buy_a.withdrawal_usdt is None
    assert buy_a.net_bp == (net_of("101.9", "100", "0.001", "0.0025") * 10_000).quantize(
        D("0.000001")
    )
    # buying on b: 100 USDT at 102 is 0.98 BTC, 0.5 on b's lot; moving it off b costs 0.01 BTC
    assert (buy_b.buy_exchange, buy_b.qty) == (b, D("0.5"))
    assert buy_b.withdrawal_usdt == D("0.01") * D("103.9")
    cost = D("102") * D("0.5") * D("1.0025")
    profit = D("103.9") * D("0.5") * D("0.999") - cost - D("1.039")
    assert buy_b.net_usdt == pytest.approx(profit, abs=D("1e-15"))
    assert buy_b.net_bp == (profit / cost * 10_000).quantize(D("0.000001"))


def test_a_venue_with_three_markets_gets_its_triangles(market, venues):  # noqa: F811
    a, _ = venues
    try:
        market.book(a, "BTC/USDT", "99.9", "100", size="10")
        market.book(a, "ETH/BTC", "0.0499", "0.05", size="100")
        market.book(a, "ETH/USDT", "5.2", "5.21", size="100")
        rows = arbitrage_scan(markets={a: ["BTC/USDT", "ETH/BTC", "ETH/USDT"]}, sizes=[D(100)])
    finally:
        for symbol in ("BTC/USDT", "ETH/BTC", "ETH/USDT"):
            market.clear(a, symbol)
    by_market = {r.market: r for r in rows}
    assert set(by_market) == {"USDT → BTC → ETH → USDT", "USDT → ETH → BTC → USDT"}
    forward = by_market["USDT → BTC → ETH → USDT"]
    # the default lot (1e-8) this time: 100/100.1 BTC, /(0.05*1.001) ETH, *5.2*0.999 USDT,
    # less the USDT the BTC cost
    btc = (D(100) / D("100.1")).quantize(D("1e-8"), rounding="ROUND_DOWN")
    eth = (btc / D("0.05005")).quantize(D("1e-8"), rounding="ROUND_DOWN")
    profit = eth * D("5.2") * D("0.999") - btc * D("100.1")
    assert forward.net_usdt == pytest.approx(profit, abs=D("1e-15"))
    assert forward.cost == btc * D("100.1")
    assert forward.kind == "triangular" and forward.fee_bp == D(30)


def test_history_past_the_retention_is_pruned(venues, market):  # noqa: F811
    a, b = venues
    now = datetime.now(UTC)
    old = ArbitrageSighting.objects.create(
        scanned_at=now - timedelta(minutes=66), kind="spatial", market="BTC/USDT",
        buy_exchange=a, sell_exchange=b, size=100, quote="USDT", qty=1, cost=100, gross_bp=1,
        net_bp=1, fee_bp=0, net_usdt=D("0.01"),
    )  # fmt: skip
    kept = ArbitrageSighting.objects.create(
        scanned_at=now - timedelta(minutes=50), kind="spatial", market="BTC/USDT",
        buy_exchange=a, sell_exchange=b, size=100, quote="USDT", qty=1, cost=100, gross_bp=1,
        net_bp=1, fee_bp=0, net_usdt=D("0.01"),
    )  # fmt: skip
    arbitrage_scan(markets={}, sizes=[D(100)], now=now)
    assert list(ArbitrageSighting.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not ArbitrageSighting.objects.filter(pk=old.pk).exists()


def test_sizes_users_ask_for_are_scanned_too(settings):
    settings.PEREGRINE_ARBITRAGE_SIZES = ["1000", "100"]
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.delete("marketdata:arbitrage:sizes")
    arbitrage_size_request(size=arbitrage_size_parse(" 2,500.50 "))
    assert arbitrage_sizes() == [D(100), D("1000"), D("2500.5")]
    client.delete("marketdata:arbitrage:sizes")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "Size must be a number of USDT"),
        ("0", "more than 0"),
        ("-5", "more than 0"),
        ("NaN", "more than 0"),
        ("1e12", "at most 10,000,000"),
        ("10.005", "at most two decimals"),
    ],
)
def test_a_bad_size_is_refused_saying_why(text, message):
    with pytest.raises(SizeError, match=message):
        arbitrage_size_parse(text)


def test_the_scan_is_on_beat_on_the_default_queue(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["marketdata-arbitrage-scan"]
    assert entry["task"] == arbitrage_spread_scan_task.name
    assert entry["schedule"].total_seconds() == settings.PEREGRINE_ARBITRAGE_SCAN_SECONDS
    assert entry["options"]["queue"] == "default"  # never behind the collectors' slices


def test_an_edge_seen_again_after_a_gap_in_the_scans_opens_anew(market, venues, settings):  # noqa: F811
    a, b = venues
    settings.PEREGRINE_ARBITRAGE_SCAN_SECONDS = 1
    markets = {a: ["BTC/USDT"], b: ["BTC/USDT"]}
    t0 = datetime.now(UTC)
    try:
        market.book(a, "BTC/USDT", "99.9", "100")
        market.book(b, "BTC/USDT", "100.9", "101")
        (first,) = arbitrage_scan(markets=markets, sizes=[D(50)], now=t0)
        # no scan for four intervals (the worker was down): the next sighting is a new run
        (later,) = arbitrage_scan(markets=markets, sizes=[D(50)], now=t0 + timedelta(seconds=4))
    finally:
        market.clear(a, "BTC/USDT")
        market.clear(b, "BTC/USDT")
    assert first.opened_at == t0
    assert later.opened_at == t0 + timedelta(seconds=4)
