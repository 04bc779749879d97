"""The arbitrage tracker in a real browser: a real worker scans the sandbox venues' books, and
the open page lists the opportunity (a spread between the two venues, a triangular cycle within
one), with the net edge this test works out for itself from the books it published and the
venues' own fees, without a reload."""

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


def venue_fees_and_lot(sandbox_url, venues=(VENUE_A, VENUE_B), symbol="BTC/USDT"):
    """The venues' taker fees and lot of `symbol`, from ccxt's markets of the sandbox (Binance)."""
    from exchanges.gateway.clients import sync_client

    out = {}
    for venue in venues:
        markets = sync_client(venue, sandbox_url=sandbox_url).load_markets()
        m = markets[symbol]
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


# A cycle on venue a: USDT -> BTC -> ETH -> USDT. BTC at 30172.2 and ETH/BTC at 0.066 make ETH
# cost 1991.37 USDT through BTC, but ETH/USDT bids 2001: about 48 bp gross, 30 bp of three taker
# fees. Deep buy legs (the touch fills them); the ETH/USDT bids hold 0.3 ETH a level, so the
# last leg walks into its second level. At that BTC price the lot leaves 0.30 of the 1000 USDT
# unspent (3 bp of it): still USDT, not a loss.
CYCLE = {  # symbol: (bid, ask, size of each level)
    "BTC/USDT": (D("30170"), D("30172.2"), D("1")),
    "ETH/BTC": (D("0.06599"), D("0.066"), D("10")),
    "ETH/USDT": (D("2001"), D("2001.5"), D("0.3")),
}
FORWARD = "USDT → BTC → ETH → USDT"


def levels(symbol, side):
    """The five levels Market.book publishes for `symbol`: one spread apart, best first."""
    bid, ask, size = CYCLE[symbol]
    step = ask - bid
    if side == "asks":
        return [(ask + step * i, size) for i in range(5)]
    return [(bid - step * i, size) for i in range(5)]


def floor_lot(qty, lot):
    return (qty / lot).to_integral_value(rounding=ROUND_DOWN) * lot


def expected_cycle(fees):
    """The forward cycle traded as a taker: each buy spends what the previous leg yielded
    (quantity at the touch, fee included, down to the lot), the sale walks the bids; the net
    edge is the USDT back less the USDT the first leg spent, over that."""
    start = SIZE
    (fee1, lot1), (fee2, lot2), (fee3, lot3) = (fees[s] for s in CYCLE)
    btc = floor_lot(start / (CYCLE["BTC/USDT"][1] * (1 + fee1)), lot1)
    spent = walk(levels("BTC/USDT", "asks"), btc) * (1 + fee1)
    assert start - spent > D("0.25")  # the lot leaves that much USDT unspent
    eth = floor_lot(btc / (CYCLE["ETH/BTC"][1] * (1 + fee2)), lot2)
    assert walk(levels("ETH/BTC", "asks"), eth) * (1 + fee2) <= btc
    back = walk(levels("ETH/USDT", "bids"), floor_lot(eth, lot3)) * (1 - fee3)
    assert eth > CYCLE["ETH/USDT"][2]  # the sale does walk past the touch
    return (back / spent - 1) * 10_000, back - spent, (fee1 + fee2 + fee3) * 10_000


def test_the_tracker_lists_a_triangular_cycle_on_one_venue_net_of_its_fees(
    signed_in, shot, market, sandbox_url, child_processes
):
    from marketdata.tasks import arbitrage_spread_scan_task

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("default", f"marketdata:venue-costs:{VENUE_A}")
    env = workers.worker_env(sandbox_url)
    env.update(PEREGRINE_COLLECTORS=f"{VENUE_A}:BTC/USDT|ETH/BTC|ETH/USDT",
               PEREGRINE_ARBITRAGE_SIZES="1000")  # fmt: skip
    workers.start_worker(child_processes, env, "arbitrage", queues="default", threads=2)
    fees = {s: venue_fees_and_lot(sandbox_url, (VENUE_A,), s)[VENUE_A] for s in CYCLE}
    net_bp, net_usdt, fee_bp = expected_cycle(fees)
    assert net_bp > 0

    def publish():
        for symbol, (bid, ask, size) in CYCLE.items():
            market.book(VENUE_A, symbol, bid, ask, size=size)

    page = signed_in
    try:
        publish()
        assert page.goto(reverse("marketdata:arbitrage-list") + "?size=1000").status == 200
        wait_for(page, "document.querySelector('section[ws-connect]') !== null")
        page.wait_for_timeout(500)  # the socket opens; the scan below is pushed to it
        row = page.locator(
            f"[data-table=opportunities] tr[data-market='{FORWARD}']"
            f"[data-buy='{VENUE_A}'][data-sell='{VENUE_A}']"
        )
        for _attempt in range(3):  # the worker is the one that scans; the page only listens
            publish()
            arbitrage_spread_scan_task.apply_async(queue="default")
            try:
                row.wait_for(timeout=WAIT_MS / 3)
                break
            except Exception:  # noqa: BLE001 (a scan that ran before the socket opened)
                continue
        assert row.count() == 1
        cells = row.locator("td")
        assert cells.nth(0).inner_text() == f"{FORWARD} (triangle)"
        assert cells.nth(3).inner_text() == "1,000.00 USDT"  # the size: USDT the cycle starts with
        assert row.locator("[data-field=fee-bp]").inner_text() == f"{fee_bp:,.2f}"
        assert row.locator("[data-field=net-bp]").inner_text() == f"{net_bp:,.2f}"
        assert row.locator("[data-field=net-usdt]").inner_text() == f"{net_usdt:,.2f}"
        # the other way round loses the gross edge and the fees: listed, not as an opportunity
        backward = page.locator("[data-table=spreads] tr[data-market='USDT → ETH → BTC → USDT']")
        assert backward.count() == 1
        assert backward.locator("[data-field=net-bp]").inner_text().startswith("-")
        shot(page, "triangle")
        assert page.errors == []
    finally:
        for symbol in CYCLE:
            market.clear(VENUE_A, symbol)
