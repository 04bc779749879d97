"""The portfolio page in a real browser, on real fills and the snapshots the valuation records
from them: value over time and cash vs crypto painted, the comparison table sorted by a click
(without a reload), the figures adding up; and the dashboard's equity equal to its exposure.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from portfolio.services import bot_performance_record
from tests.browser.conftest import wait_for, wait_painted
from tests.trading.conftest import VENUE_A
from trading.models import Fill, Order

pytestmark = pytest.mark.django_db(transaction=True)

MINUTES = 60


def _number(text: str) -> float:
    """'−1,234.50 USDT' or '4.5%' -> the number; '–' (no figure) -> None."""
    match = re.search(r"-?[\d,]+(?:\.\d+)?", text.replace("\u2212", "-"))
    return None if match is None else float(match.group(0).replace(",", ""))


def _fill(bot, *, side, price, qty, at, n):
    price, qty = D(price), D(qty)
    order = Order.objects.create(
        bot=bot, user=bot.user, mode="paper", exchange=VENUE_A, symbol="BTC/USDT",
        client_order_id=f"pg{bot.pk}-p{n}", side=side, type="market", qty=qty,
        filled_qty=qty, status="filled",
    )  # fmt: skip
    Fill.objects.create(
        bot=bot, order=order, user=bot.user, mode="paper", exchange=VENUE_A,
        account_key=f"paper-{bot.pk}", symbol="BTC/USDT", trade_id=f"P{bot.pk}-{n}", side=side,
        price=price, qty=qty, fee=(price * qty * D("0.001")).quantize(D("0.00000001")),
        fee_asset="USDT", executed_at=at, source="paper",
    )  # fmt: skip


@pytest.fixture
def traded(alice, bob, make_bot, market):
    """Three of alice's bots trade BTC over an hour while its price moves; each minute the
    valuation records every bot's snapshot from the fills and the book as they were then."""
    now = timezone.now().replace(second=0, microsecond=0)
    funds = {VENUE_A: {"USDT": "10000"}}
    bots = [
        make_bot(alice, name="alice-swing", paper_balances=funds),
        make_bot(alice, name="alice-scalper", paper_balances=funds),
        make_bot(alice, name="alice-holder", paper_balances={VENUE_A: {"USDT": "5000"}}),
    ]
    make_bot(bob, name="bob-secret", paper_balances=funds)
    n = 0
    for minute in range(MINUTES):
        at = now - timedelta(minutes=MINUTES - minute)
        price = 30_000 * (1 + 0.03 * math.sin(minute / 17) + 0.0004 * minute)
        market.book(VENUE_A, "BTC/USDT", f"{price - 1:.2f}", f"{price + 1:.2f}")
        if minute % 30 == 5:  # swing: buys 0.1, sells it 15 minutes later
            _fill(bots[0], side="buy", price=f"{price:.2f}", qty="0.1", at=at, n=(n := n + 1))
        if minute % 30 == 20:
            _fill(bots[0], side="sell", price=f"{price:.2f}", qty="0.1", at=at, n=(n := n + 1))
        if minute % 8 == 1:  # scalper: small trades both ways
            side = "buy" if minute % 16 == 1 else "sell"
            _fill(bots[1], side=side, price=f"{price:.2f}", qty="0.02", at=at, n=(n := n + 1))
        if minute == 3:  # holder: buys once and holds
            _fill(bots[2], side="buy", price=f"{price:.2f}", qty="0.1", at=at, n=(n := n + 1))
        bot_performance_record(bots=bots, at=at)
    bot_performance_record(bots=bots, at=now)  # the latest, at the book as it is now
    yield bots
    market.clear(VENUE_A, "BTC/USDT")


def _comparison_rows(page) -> list[dict]:
    return page.evaluate(
        """() => [...document.querySelectorAll("#portfolio-comparison tbody tr[data-bot]")]
          .map((row) => Object.fromEntries([["name", row.querySelector("a").textContent.trim()],
            ["value", row.children[1].textContent.trim()],
            ...[...row.querySelectorAll("td[data-col]")].map(
              (cell) => [cell.dataset.col, cell.textContent.trim()])]))"""
    )


def test_portfolio_page_draws_its_charts_sorts_its_table_and_adds_up(
    signed_in, alice, traded, shot
):
    page = signed_in
    with page.expect_response(lambda r: "/portfolio/value.json" in r.url) as answer:
        page.goto("/portfolio/")
    assert answer.value.status == 200
    chart = page.locator("#portfolio-value-chart")
    wait_for(
        page, "() => Number(document.getElementById('portfolio-value-chart').dataset.points) > 0"
    )
    # an hour in the 1-day range: one point per 288 s bucket (300 points per range at most)
    assert int(chart.get_attribute("data-points")) >= MINUTES * 60 // 288
    assert chart.get_attribute("data-bots") == "3"
    wait_painted(page, "#portfolio-value-chart", 1000)
    wait_painted(page, "#portfolio-allocation-chart", 1000)
    legend = page.locator("#portfolio-value-legend").inner_text()
    for name in ("total", "alice-swing", "alice-scalper", "alice-holder"):
        assert name in legend
    assert "bob-secret" not in page.content()
    assert page.locator("#portfolio-chart-empty").is_hidden()

    # the bots' values add up to the total card, and their PnL to its net PnL
    rows = _comparison_rows(page)
    assert [row["name"] for row in rows] == ["alice-holder", "alice-scalper", "alice-swing"]
    totals = page.locator("#portfolio-totals").inner_text()
    shown_total = _number(totals.split("Bots' value")[1])
    assert shown_total == pytest.approx(sum(_number(row["value"]) for row in rows), abs=0.015)
    net = _number(totals.split("Net PnL")[1])
    assert net == pytest.approx(sum(_number(row["pnl"]) for row in rows), abs=0.015)
    # the last point of the value chart is the bots' value now (the latest snapshot's marks)
    last = page.evaluate(
        "fetch('/portfolio/value.json?range=1d&asset=USDT').then(r => r.json())"
        ".then(d => [d.total.at(-1).value, d.cash.at(-1).value, d.crypto.at(-1).value])"
    )
    assert last[0] == pytest.approx(shown_total, abs=0.015)
    assert last[1] + last[2] == pytest.approx(last[0], abs=1e-6)
    shot(page, "portfolio")

    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
    # a first click sorts a column ascending, a second reverses it; the address follows
    for sort, descending in (("return", False), ("return", True), ("sharpe", False)):
        header = page.locator(f"#portfolio-comparison th a[data-sort-key={sort}]")
        before = page.locator("#portfolio-comparison table").element_handle()
        header.click()
        wait_for(
            page,
            "([old, key, desc]) => { const t = document.querySelector("
            "'#portfolio-comparison table'); return t && t !== old && t.dataset.sort === key &&"
            " t.dataset.descending === String(desc); }",
            arg=[before, sort, descending],
        )
        figures = [_number(row[sort]) for row in _comparison_rows(page)]
        known = [figure for figure in figures if figure is not None]
        assert known == sorted(known, reverse=descending), (sort, figures)
        assert figures[: len(known)] == known  # bots without the figure go last
        wanted = f"?sort={'-' if descending else ''}{sort}"
        wait_for(page, "(wanted) => window.location.search === wanted", arg=wanted)
    assert page.evaluate("window.loadedOnce") is True
    page.locator("#portfolio-comparison").scroll_into_view_if_needed()
    shot(page, "portfolio-sorted")
    assert page.errors == []


def test_dashboard_equity_is_the_sum_of_its_exposure(signed_in, alice, traded, shot):
    page = signed_in
    page.goto("/")
    equity = _number(page.locator(".dashboard-totals article").first.inner_text())
    values = page.evaluate(
        """() => [...document.querySelectorAll(".dashboard-exposure tbody tr")]
          .map((row) => row.children[2].textContent.trim())"""
    )
    assert len(values) == 2  # USDT and BTC
    assert equity == pytest.approx(sum(_number(value) for value in values), abs=0.015)
    page.locator(".dashboard-exposure").scroll_into_view_if_needed()
    shot(page, "dashboard-equity-and-exposure")
    assert page.errors == []


def test_a_fill_refreshes_the_portfolio_without_a_reload(signed_in, alice, make_bot, market, shot):
    from trading.events import bot_event_publish, events_flush

    page = signed_in
    bot = make_bot(alice, name="alice-live", paper_balances={VENUE_A: {"USDT": "10000"}})
    market.book(VENUE_A, "BTC/USDT", "29999", "30001")
    now = timezone.now().replace(second=0, microsecond=0)
    bot_performance_record(bots=[bot], at=now - timedelta(minutes=1))
    with page.expect_websocket(lambda ws: "/ws/events/" in ws.url):
        page.goto("/portfolio/")
    trades = page.locator(f'#portfolio-comparison tr[data-bot="{bot.pk}"] td[data-col=trades]')
    assert trades.inner_text() == "0"
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded

    _fill(bot, side="buy", price="30000", qty="0.1", at=now, n=1)
    bot_event_publish(bot=bot, kind="fill", data={"fills": []})
    events_flush()
    wait_for(
        page,
        '(id) => document.querySelector(`#portfolio-comparison tr[data-bot="${id}"]'
        " td[data-col=trades]`).textContent.trim() === '1'",
        arg=bot.pk,
    )
    paper = page.locator("#portfolio-paper").inner_text()
    assert "BTC" in paper and "0.1" in paper  # the holdings followed
    assert page.evaluate("window.loadedOnce") is True
    shot(page, "portfolio-after-fill")
    market.clear(VENUE_A, "BTC/USDT")
    assert page.errors == []
