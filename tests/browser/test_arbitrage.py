"""The arbitrage tracker in a real browser: a real worker scans the two sandbox venues' books,
and the open page lists the opportunity, with the net edge this test works out for itself from
the books it published and the venues' own fees, without a reload."""

from __future__ import annotations

from decimal import ROUND_DOWN
from decimal import Decimal as D

import pytest
import redis
from django.conf import settings
from django.urls import reverse

from tests.browser.conftest import WAIT_MS, wait_for
from tests.trading import workers
from tests.trading.conftest import VENUE_A, VENUE_B

pytestmark = pytest.mark.django_db(transaction=True)

# Venue a trades 40 bp under venue b, as the dev platform's two sandbox venues do: levels of
# 0.02 BTC every 10 USDT, so 1000 USDT of BTC walks into the second level on both sides.
A_BID, A_ASK, B_BID, B_ASK, LEVEL = D("29990"), D("30000"), D("30120"), D("30130"), D("0.02")
SIZE = D(1000)


def venue_fees_and_lot(sandbox_url):
    """The venues' taker fees and BTC/USDT lot, from ccxt's markets of the sandbox (Binance)."""
    from exchanges.gateway.clients import sync_client

    out = {}
    for venue in (VENUE_A, VENUE_B):
        markets = sync_client(venue, sandbox_url=sandbox_url).load_markets()
        m = markets["BTC/USDT"]
        out[venue] = (D(str(m["taker"])), D(str(m["precision"]["amount"])))
    return out


def walk(levels, qty):
    """(price x qty) summed over the levels a taker of `qty` takes, best first."""
    total, left = D(0), qty
    for price, size in levels:
        take = min(size, left)
        total += price * take
        left -= take
        if left <= 0:
            return total
    raise AssertionError("the book is too thin for the size")


def expected_net_bp(fees):
    (fee_a, lot), (fee_b, _) = fees[VENUE_A], fees[VENUE_B]
    qty = (SIZE / A_ASK / lot).to_integral_value(rounding=ROUND_DOWN) * lot
    asks_a = [(A_ASK + 10 * i, LEVEL) for i in range(5)]
    bids_b = [(B_BID - 10 * i, LEVEL) for i in range(5)]
    paid = walk(asks_a, qty) * (1 + fee_a)
    received = walk(bids_b, qty) * (1 - fee_b)
    return (received / paid - 1) * 10_000, received - paid


def publish_books(market):
    market.book(VENUE_A, "BTC/USDT", A_BID, A_ASK, size=LEVEL)
    market.book(VENUE_B, "BTC/USDT", B_BID, B_ASK, size=LEVEL)


def test_the_tracker_lists_the_sandbox_venues_opportunity_net_of_fees(
    signed_in, shot, market, sandbox_url, child_processes, browser, live_server_url
):
    from marketdata.tasks import arbitrage_spread_scan_task

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("default", *[f"marketdata:venue-costs:{v}" for v in (VENUE_A, VENUE_B)])
    env = workers.worker_env(sandbox_url)
    env.update(PEREGRINE_COLLECTORS=f"{VENUE_A}:BTC/USDT,{VENUE_B}:BTC/USDT",
               PEREGRINE_ARBITRAGE_SIZES="1000")  # fmt: skip
    workers.start_worker(child_processes, env, "arbitrage", queues="default", threads=2)
    net_bp, net_usdt = expected_net_bp(venue_fees_and_lot(sandbox_url))
    assert net_bp > 0

    page = signed_in
    try:
        publish_books(market)
        assert page.goto(reverse("marketdata:arbitrage-list") + "?size=1000").status == 200
        wait_for(page, "document.querySelector('section[ws-connect]') !== null")
        page.wait_for_timeout(500)  # the socket opens; the scan below is pushed to it
        row = page.locator(
            f"[data-table=opportunities] tr[data-buy='{VENUE_A}'][data-sell='{VENUE_B}']"
        )
        for _attempt in range(3):  # the worker is the one that scans; the page only listens
            publish_books(market)
            arbitrage_spread_scan_task.apply_async(queue="default")
            try:
                row.wait_for(timeout=WAIT_MS / 3)
                break
            except Exception:  # noqa: BLE001 (a scan that ran before the socket opened)
                continue
        assert row.count() == 1
        assert row.locator("[data-field=net-bp]").inner_text() == f"{net_bp:,.2f}"
        assert row.locator("[data-field=net-usdt]").inner_text() == f"{net_usdt:,.2f}"
        assert row.locator("td").first.inner_text() == "BTC/USDT"
        # a second scan: the edge is still open, its age counted from the first
        first_scan = page.locator("#arbitrage-board").get_attribute("data-scanned-at")
        page.wait_for_timeout(1500)  # time for the edge to age (not a speed budget)
        publish_books(market)
        arbitrage_spread_scan_task.apply_async(queue="default")
        wait_for(
            page, f"document.querySelector('#arbitrage-board').dataset.scannedAt !== '{first_scan}'"
        )
        age = row.locator("td").nth(10).inner_text()
        assert age not in ("–", "under 1 s"), age
        assert page.locator("[data-table=history] tbody tr").count() >= 1
        shot(page, "arbitrage")
        assert page.errors == []
    finally:
        market.clear(VENUE_A, "BTC/USDT")
        market.clear(VENUE_B, "BTC/USDT")

    anonymous = browser.new_context(base_url=live_server_url).new_page()
    anonymous.goto(reverse("marketdata:arbitrage-list"))
    assert "/accounts/login/" in anonymous.url
    anonymous.context.close()
