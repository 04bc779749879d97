"""The signed-in home page: totals, today's PnL, equity JSON, exposure, bots, alerts, live feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config.consumers import UserEventsConsumer
from portfolio.models import BotPerformance
from portfolio.selectors import dashboard_get, portfolio_equity_series
from trading.events import bot_event_publish, events_flush
from trading.models import BotEvent, KillSwitch


def _snapshot(bot, at, value, *, realized="0", fees="0", trades=0):
    return BotPerformance.objects.create(
        bot=bot, at=at.replace(second=0, microsecond=0), valuation_asset="USDT",
        total_value=D(value), cash=D(value), crypto=D(0), realized_pnl=D(realized),
        unrealized_pnl=D(0), fees=D(fees), trades=trades,
    )  # fmt: skip


@pytest.fixture
def now():
    return timezone.now().replace(second=0, microsecond=0)


@pytest.fixture
def today(now):
    """A moment safely after midnight UTC, today (so 'before today' is yesterday)."""
    return max(now - timedelta(minutes=5), now.replace(hour=0, minute=1))


def test_dashboard_shows_this_users_totals_and_bots_only(
    alice, bob, alice_client, make_bot, venue, today
):
    first = make_bot(alice, venues=[venue], name="alpha-mm")
    second = make_bot(alice, venues=[venue], name="beta-trend")
    other = make_bot(bob, venues=[venue], name="bobs-secret-bot")
    yesterday = today - timedelta(days=1)
    _snapshot(first, yesterday, "10000")
    _snapshot(first, today, "10150.5", realized="160", fees="9.5")
    _snapshot(second, yesterday, "5000")
    _snapshot(second, today, "4900")
    _snapshot(other, today, "999999")

    response = alice_client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Dashboard" in html
    assert "15,050.50" in html  # 10150.5 + 4900
    assert "50.50" in html  # today: +150.5 - 100
    assert "alpha-mm" in html and "beta-trend" in html
    assert reverse("trading:bot-detail", args=[first.pk]) in html
    assert "bobs-secret-bot" not in html and "999,999" not in html
    totals = response.context["board"].totals["USDT"]
    assert totals == {"value": D("15050.5"), "day_pnl": D("50.5"), "net": D("150.5")}


def test_a_bot_started_today_counts_its_day_from_its_first_snapshot(alice, make_bot, venue, now):
    bot = make_bot(alice, venues=[venue])
    _snapshot(bot, now - timedelta(minutes=2), "1000")
    _snapshot(bot, now - timedelta(minutes=1), "1012")
    if (now - timedelta(minutes=2)).date() != now.date():
        pytest.skip("too close to midnight UTC")
    assert dashboard_get(user=alice, now=now).totals["USDT"]["day_pnl"] == D("12")


def test_exposure_lists_each_asset_with_its_value_and_share(
    alice, alice_client, make_bot, add_fill, venue, publish_mark
):
    bot = make_bot(alice, venues=[venue])  # 10000 USDT to start
    add_fill(bot, "buy", "0.1", "30000")  # 0.1 BTC for 3000 USDT
    publish_mark(venue, "BTC/USDT", bid="39999", ask="40001")  # BTC at 40000

    lines = {line.asset: line for line in dashboard_get(user=alice).exposure["USDT"]}
    assert lines["USDT"].amount == D("7000") and lines["USDT"].value == D("7000")
    assert lines["BTC"].amount == D("0.1") and lines["BTC"].value == D("4000.0")
    assert lines["BTC"].share == D("4000") / D("11000")
    html = alice_client.get("/").content.decode()
    assert "Exposure by asset" in html and "4,000.00" in html and "36%" in html


def test_equity_json_sums_the_bots_for_the_range(alice, bob, alice_client, make_bot, venue, now):
    first, second = make_bot(alice, venues=[venue]), make_bot(alice, venues=[venue])
    other = make_bot(bob, venues=[venue])
    old = now - timedelta(days=3)
    _snapshot(first, old, "900")  # before the 1-day range: the starting value of `first`
    _snapshot(second, now - timedelta(hours=2), "500")
    _snapshot(first, now - timedelta(hours=1), "1100")
    _snapshot(other, now - timedelta(hours=1), "7777")

    response = alice_client.get(reverse("portfolio:equity-chart"), {"range": "1d"})
    assert response.status_code == 200
    hours_ago = [int((now - timedelta(hours=h)).timestamp()) for h in (2, 1)]
    assert response.json() == [
        {"time": hours_ago[0], "value": 1400.0},  # second 500 + first still 900
        {"time": hours_ago[1], "value": 1600.0},
    ]
    everything = alice_client.get(reverse("portfolio:equity-chart"), {"range": "all"}).json()
    assert [point["value"] for point in everything] == [900.0, 1400.0, 1600.0]
    week = portfolio_equity_series(user=alice, range_key="1w", asset="USDT", now=now)
    assert [value for _, value in week] == [D(900), D(1400), D(1600)]


def test_equity_json_refuses_an_unknown_range_and_anonymous(alice_client, client, alice):
    response = alice_client.get(reverse("portfolio:equity-chart"), {"range": "5y"})
    assert response.status_code == 400
    assert (
        "Unknown range '5y'" in response.json()["error"]
        and "1d, 1w, all" in (response.json()["error"])
    )
    client.logout()
    anonymous = client.get(reverse("portfolio:equity-chart"), {"range": "1d"})
    assert anonymous.status_code == 302


def test_anonymous_home_says_what_peregrine_is_and_how_to_start(client, db):
    html = client.get("/").content.decode()
    assert reverse("account_signup") in html and reverse("account_login") in html
    for text in ("Backtest", "Paper-trade", "Go live", "Market making", "Arbitrage", "Trend"):
        assert text in html
    assert "Dashboard" not in html and "/ws/events/" not in html


def test_alerts_show_a_bot_in_error_a_risk_breach_and_a_kill_switch(
    alice, bob, alice_client, make_bot, venue
):
    broken = make_bot(alice, venues=[venue], name="broken-bot", status="error")
    broken.status_reason = "strategy raised ZeroDivisionError"
    broken.save()
    paused = make_bot(alice, venues=[venue], name="careful-bot", status="paused")
    BotEvent.objects.create(bot=paused, kind="risk", message="Risk limit max_drawdown: 12% > 10%")
    make_bot(bob, venues=[venue], name="bobs-broken", status="error")
    KillSwitch.objects.create(user=alice, reason="market halted")

    html = alice_client.get("/").content.decode()
    assert "broken-bot is in error" in html and "ZeroDivisionError" in html
    assert "Risk limit hit by careful-bot" in html and "12% &gt; 10%" in html
    assert "Kill switch engaged on your account" in html and "market halted" in html
    assert "bobs-broken" not in html


def test_feed_lists_recent_fills_and_events_newest_first(
    alice, bob, alice_client, make_bot, add_fill, venue
):
    bot = make_bot(alice, venues=[venue], name="feed-bot")
    add_fill(bot, "buy", "0.0100", "30000.50")
    BotEvent.objects.create(
        bot=bot, kind="status", message="Started by you.",
        data={"status": "running", "previous": "starting"},
    )  # fmt: skip
    add_fill(make_bot(bob, venues=[venue]), "sell", "7", "1")
    lines = alice_client.get("/").context["feed"]
    assert [line.text for line in lines] == [
        "Status starting \u2192 running: Started by you.",  # now, after the fill of January
        f"Bought 0.01 BTC/USDT at 30000.5 on {venue}",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_runtime_event_reaches_the_dashboard_socket(alice, bob, make_bot, venue):
    bot = make_bot(alice, venues=[venue], name="live-bot")
    bobs = make_bot(bob, venues=[venue])

    async def scenario():
        mine = WebsocketCommunicator(UserEventsConsumer.as_asgi(), "/ws/events/")
        mine.scope["user"], mine.scope["session"] = alice, {}
        assert (await mine.connect())[0]
        try:
            await _publish(bobs, "bob's fill")
            await _publish(bot, "alice's fill")
            event = await mine.receive_json_from(timeout=5)
            assert event["kind"] == "fill" and event["bot_id"] == bot.pk
            assert event["data"]["fills"][0]["trade_id"] == "alice's fill"
            assert await mine.receive_nothing(timeout=0.5)
        finally:
            await mine.disconnect()

    async_to_sync(scenario)()


async def _publish(bot, trade_id):
    from channels.db import database_sync_to_async

    def send():
        fill = {"trade_id": trade_id, "symbol": "BTC/USDT", "side": "buy", "price": "1", "qty": "1"}
        bot_event_publish(bot=bot, kind="fill", data={"fills": [fill]})
        events_flush()

    await database_sync_to_async(send)()


def test_an_anonymous_socket_is_refused(db):
    from django.contrib.auth.models import AnonymousUser

    async def scenario():
        socket = WebsocketCommunicator(UserEventsConsumer.as_asgi(), "/ws/events/")
        socket.scope["user"] = AnonymousUser()
        connected, _ = await socket.connect()
        assert not connected

    async_to_sync(scenario)()


def _dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    return len(queries)


def test_dashboard_queries_do_not_grow_with_the_number_of_bots(
    alice, alice_client, make_bot, add_fill, venue, today, django_assert_max_num_queries
):
    def add_bot():
        bot = make_bot(alice, venues=[venue])
        add_fill(bot, "buy", "0.1", "30000")
        BotEvent.objects.create(bot=bot, kind="risk", message="Risk limit daily_loss: hit")
        _snapshot(bot, today - timedelta(days=1), "10000")
        _snapshot(bot, today, "10100", trades=1)

    add_bot()
    _dashboard_queries(alice_client)  # the first request of a session reads a few things once
    one = _dashboard_queries(alice_client)
    for _ in range(7):
        add_bot()
    assert _dashboard_queries(alice_client) == one
    # 4 for session and user, 14 for the page, 2 for the start card (no exchange account yet)
    with django_assert_max_num_queries(20):
        alice_client.get("/")


def test_dashboard_of_a_new_user_invites_to_create_a_bot(alice_client):
    html = alice_client.get("/").content.decode()
    assert "No bot has been valued yet" in html and reverse("trading:bot-create") in html


def test_utc_midnight_boundary_is_used_for_today():
    from portfolio.selectors import _day_start

    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert _day_start(at) == datetime(2026, 3, 1, tzinfo=UTC)


def test_exchange_account_balances_are_shown_apart_from_the_bots_totals(alice, bob, alice_client):
    from exchanges.services.credentials import exchange_account_create
    from portfolio.models import ExchangeBalance

    def account(user, label, balances):
        created = exchange_account_create(
            user=user, exchange="sandbox", label=label, mode="paper",
            api_key=f"key-{user.pk}-0000000001", secret="secret-000000001",
        )  # fmt: skip
        for asset, total in balances.items():
            ExchangeBalance.objects.create(
                account=created, asset=asset, free=D(total), used=D(0), total=D(total),
                fetched_at=timezone.now(),
            )  # fmt: skip

    account(alice, "main", {"USDT": "2500", "BTC": "0.25"})
    account(alice, "second", {"USDT": "500"})
    account(bob, "bobs", {"ETH": "99"})
    board = dashboard_get(user=alice)
    assert board.account_balances == {"BTC": D("0.25"), "USDT": D("3000")}
    html = alice_client.get("/").content.decode()
    assert "0.25 BTC · 3000 USDT" in html and "ETH" not in html
