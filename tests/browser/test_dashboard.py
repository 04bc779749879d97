"""The dashboard in a real browser: the equity chart drawn, and a paper bot's fill in the live
feed within seconds of it happening on the sandbox, without a reload."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from portfolio.models import BotPerformance
from trading.services.bots import bot_start, bot_stop

pytestmark = pytest.mark.django_db(transaction=True)


def _curve(bot, *, start, minutes, base):
    """A wavy equity curve, one snapshot a minute."""
    rows = []
    for minute in range(minutes):
        value = D(base) + D(minute % 37) * D("1.5") - D(minute % 11) * D("2.25") + D(minute) / 10
        rows.append(
            BotPerformance(
                bot=bot, at=start + timedelta(minutes=minute), valuation_asset="USDT",
                total_value=value, cash=value, crypto=D(0), trades=minute // 10,
            )
        )  # fmt: skip
    BotPerformance.objects.bulk_create(rows)


def test_signed_in_home_draws_the_equity_chart_without_a_script_error(
    signed_in, alice, bob, make_bot, shot
):
    page = signed_in
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=6)
    maker, trend = make_bot(alice, name="alice-maker"), make_bot(alice, name="alice-trend")
    _curve(maker, start=start, minutes=360, base="10000")
    _curve(trend, start=start + timedelta(hours=2), minutes=240, base="2500")
    make_bot(bob, name="bob-secret")

    with page.expect_response(lambda r: "/portfolio/equity.json" in r.url) as answer:
        page.goto("/")
    assert answer.value.status == 200 and 100 < len(answer.value.json()) <= 500
    page.locator("#equity-chart canvas").first.wait_for()
    assert page.locator("h1", has_text="Dashboard").is_visible()
    assert "alice-maker" in page.content() and "bob-secret" not in page.content()
    assert page.locator("#equity-chart-empty").is_hidden()
    shot(page, "dashboard")

    lines = page.evaluate(
        """() => [
          {kind: "fill", data: {fills: [{side: "sell", qty: "0.0100", price: "30000.50",
            symbol: "BTC/USDT", exchange: "binance"}]}},
          {kind: "order", data: {orders: [{side: "buy", qty: "0.01", price: "29990",
            symbol: "BTC/USDT", status: "partially_filled"}]}},
          {kind: "status", data: {previous: "running", status: "paused", reason: "by you"}},
          {kind: "risk", data: {rule: "max_drawdown", message: "12% > 10%", action: "pause"}},
          {kind: "kill_switch", data: {scope: "user", reason: "market halted"}},
          {kind: "equity", data: {}},
        ].map(e => PeregrineDashboard.describe(e))"""
    )
    assert lines == [
        ["Sold 0.01 BTC/USDT at 30000.5 on binance"],
        ["Order buy 0.01 BTC/USDT at 29990: partially filled"],
        ["Status running \u2192 paused: by you"],
        ["Risk limit max_drawdown: 12% > 10% (pause)"],
        ["Kill switch (user): market halted"],
        [],
    ]

    with page.expect_response(lambda r: "range=1w" in r.url):
        page.get_by_role("button", name="1 week").click()
    assert page.get_by_role("button", name="1 week").get_attribute("aria-pressed") == "true"
    assert page.errors == []


def test_a_paper_bots_fill_reaches_the_dashboard_feed_without_a_reload(
    signed_in, alice, make_bot, feeder, bot_worker, shot
):
    page = signed_in
    bot = make_bot(alice, name="feed-maker")
    with page.expect_websocket(lambda ws: "/ws/events/" in ws.url):
        page.goto("/")
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
    feed = page.locator("#dashboard-feed-lines")
    assert "Created in paper mode." in feed.inner_text()  # the history, from the database
    assert feed.locator("li.feed-fill").count() == 0

    with feeder():
        bot_start(bot=bot)
        feed.locator("li.feed-status", has_text="running").first.wait_for()
        line = feed.locator("li.feed-fill", has_text="feed-maker").first
        line.wait_for()
        shot(page, "dashboard-live-fill")
        bot_stop(bot=bot)

    assert line.inner_text().split(" ")[2] in ("Bought", "Sold")
    assert page.locator(f'[data-bot-status="{bot.pk}"]').inner_text() in (
        "Running",
        "Stopping",
        "Stopped",
    )
    assert page.evaluate("window.loadedOnce") is True
    assert page.errors == []


def test_anonymous_home_says_how_to_start(page, shot):
    page.goto("/")
    assert page.get_by_role("heading", name="How to start").is_visible()
    assert page.locator("main a[href='/accounts/signup/']").is_visible()
    shot(page, "anonymous-home")
    assert page.errors == []
