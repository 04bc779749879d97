"""Bot and portfolio pages: alice sees and controls her bots, bob gets 404, anonymous logs in."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from trading.models import Bot, Fill, Order


@pytest.fixture
def alice_bot(alice, make_bot):
    bot = make_bot(alice, name="alice-mm")
    venue = bot.venues.first().exchange
    order = Order.objects.create(
        bot=bot, user=alice, mode="paper", exchange=venue, symbol="BTC/USDT",
        client_order_id=f"pg{bot.pk}-open-1", side="buy", type="limit",
        price=Decimal("64990.5"), qty=Decimal("0.01"), status="open",
    )  # fmt: skip
    done = Order.objects.create(
        bot=bot, user=alice, mode="paper", exchange=venue, symbol="BTC/USDT",
        client_order_id=f"pg{bot.pk}-done-1", side="sell", type="limit",
        price=Decimal("65010.25"), qty=Decimal("0.01"), filled_qty=Decimal("0.01"),
        status="filled",
    )  # fmt: skip
    Fill.objects.create(
        bot=bot, order=done, user=alice, mode="paper", exchange=venue,
        account_key=f"paper-{bot.pk}",
        symbol="BTC/USDT", trade_id="T-777", side="sell", price=Decimal("65010.25"),
        qty=Decimal("0.01"), fee=Decimal("0.65"), fee_asset="USDT",
        executed_at=datetime(2026, 1, 5, 12, 0, tzinfo=UTC), source="paper",
    )  # fmt: skip
    bot.open_order = order
    return bot


def _snapshot(bot):
    return Bot.objects.filter(pk=bot.pk).values().get()


def _pages(bot):
    return [reverse("trading:bot-detail", args=[bot.pk])]


def _actions(bot):
    return [
        reverse("trading:bot-action", args=[bot.pk, action])
        for action in ("start", "pause", "resume", "stop", "kill")
    ]


def test_alice_sees_her_bot_with_orders_fills_and_pnl(alice_client, alice_bot):
    listing = alice_client.get(reverse("trading:bot-list")).content.decode()
    assert "alice-mm" in listing and 'ws-connect="/ws/bots/"' in listing
    page = alice_client.get(reverse("trading:bot-detail", args=[alice_bot.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f'ws-connect="/ws/bots/{alice_bot.pk}/"' in html
    sections = ("bot-status", "bot-controls", "bot-pnl", "equity-curve", "open-orders", "fills",
                "bot-events")  # fmt: skip
    for section in sections:
        assert f'id="{section}"' in html, section
    assert 'hx-trigger="every' not in html  # every section is pushed over the socket
    assert alice_bot.open_order.client_order_id in html  # open order listed
    assert f"pg{alice_bot.pk}-done-1" not in html  # a filled order is not open
    assert "T-777" in html and "65010.25" in html  # the fill
    assert "Start" in html  # a draft bot can be started


def test_bob_gets_404_on_every_bot_page_and_action_and_the_bot_is_unchanged(alice_bot, bob_client):
    before = _snapshot(alice_bot)
    assert "alice-mm" not in bob_client.get(reverse("trading:bot-list")).content.decode()
    for url in _pages(alice_bot):
        assert bob_client.get(url).status_code == 404, url
    for url in _actions(alice_bot):
        assert bob_client.post(url).status_code == 404, url
    assert _snapshot(alice_bot) == before
    assert Order.objects.get(pk=alice_bot.open_order.pk).status == "open"


def test_anonymous_is_sent_to_login_and_nothing_changes(alice_bot, client):
    before = _snapshot(alice_bot)
    for url in [reverse("trading:bot-list"), *_pages(alice_bot)]:
        response = client.get(url)
        assert response.status_code == 302 and "login" in response.url, url
    for url in _actions(alice_bot):
        response = client.post(url)
        assert response.status_code == 302 and "login" in response.url, url
    assert _snapshot(alice_bot) == before


def test_alice_starts_her_bot_and_htmx_gets_controls_and_status(alice_client, alice_bot):
    url = reverse("trading:bot-action", args=[alice_bot.pk, "start"])
    response = alice_client.post(url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="bot-controls"' in html and "Pause" in html
    assert 'id="bot-status" hx-swap-oob="true"' in html and "Starting" in html
    assert Bot.objects.get(pk=alice_bot.pk).status == "starting"


def test_a_refused_action_says_why_and_changes_nothing(alice_client, alice_bot):
    before = _snapshot(alice_bot)
    response = alice_client.post(
        reverse("trading:bot-action", args=[alice_bot.pk, "pause"]), follow=True
    )
    assert "A draft bot cannot be paused." in response.content.decode()
    assert _snapshot(alice_bot) == before


def test_unknown_action_is_404(alice_client, alice_bot):
    url = reverse("trading:bot-action", args=[alice_bot.pk, "moon"])
    assert alice_client.post(url).status_code == 404


def test_kill_cancels_the_open_paper_order(alice_client, alice_bot):
    alice_client.post(reverse("trading:bot-action", args=[alice_bot.pk, "kill"]))
    bot = Bot.objects.get(pk=alice_bot.pk)
    assert bot.status == "stopped" and bot.status_reason.startswith("Killed")
    assert Order.objects.get(pk=alice_bot.open_order.pk).status == "cancelled"


def test_portfolio_page_is_the_owners(alice_client, bob_client, alice_bot):
    from django.test import Client

    page = alice_client.get(reverse("portfolio:overview")).content.decode()
    assert "alice-mm" in page and "Fees by asset" in page and "0.65 USDT" in page
    assert "alice-mm" not in bob_client.get(reverse("portfolio:overview")).content.decode()
    response = Client().get(reverse("portfolio:overview"))
    assert response.status_code == 302 and "login" in response.url


def test_balance_refresh_of_anothers_account_is_404(alice, bob_client, alice_client):
    from exchanges.services.credentials import exchange_account_create

    account = exchange_account_create(
        user=alice,
        exchange="sandbox",
        label="main",
        mode="paper",
        api_key="k" * 16,
        secret="s" * 16,
    )
    url = reverse("portfolio:exchange-balances-refresh", args=[account.pk])
    assert bob_client.post(url).status_code == 404
    assert alice_client.get(url).status_code == 405


def test_nav_links_to_bots_and_portfolio(alice_client):
    html = alice_client.get(reverse("home")).content.decode()
    assert reverse("trading:bot-list") in html and reverse("portfolio:overview") in html
