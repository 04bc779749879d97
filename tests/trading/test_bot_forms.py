"""New-bot and edit-bot pages: the same services and checks as the API, errors in place.

alice creates and edits her bots; bob gets 404 and alice's bot is unchanged; anonymous logs in.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from tests.trading.conftest import MM_PARAMS, VENUE_A, VENUE_B
from trading.models import Bot

NEW = "trading:bot-create"


@pytest.fixture
def new_bot_form(sandbox_url):
    """A valid paper market maker as the page posts it (override anything)."""

    def make(**changes):
        form = {
            "name": "page-mm",
            "strategy": "pure_market_making",
            "venue_0": f"exchange:{VENUE_A}",
            "symbols": "btc/usdt",
            "budget": "5000",
            "mode": "paper",
            "on_breach": "pause",
            "timer_ms": "1000",
            "params_present": "1",
            "params.order_amount": "0.02",
            "params.order_levels": "2",
            "params.inventory_skew_enabled": "on",
            "risk.max_open_orders": "4",
            "risk.stop_loss_fraction": "0.1",
        }
        form.update(changes)
        return {k: v for k, v in form.items() if v is not None}

    return make


def _edit_form(bot, **changes):
    """What the edit page posts for `bot` when nothing is touched, plus `changes`."""
    form = {
        "name": bot.name,
        "budget": f"{bot.budget.normalize():f}",
        "mode": bot.mode,
        "on_breach": bot.on_breach,
        "timer_ms": str(bot.timer_ms),
        "params_present": "1",
    }
    for name, value in bot.params.items():
        if value is True:
            form[f"params.{name}"] = "on"
        elif value is not False:
            form[f"params.{name}"] = str(value)
    for name, value in bot.risk_limits.items():
        form[f"risk.{name}"] = str(value)
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def _snapshot(bot):
    return Bot.objects.filter(pk=bot.pk).values().get()


# -- new bot --------------------------------------------------------------------------------
def test_the_list_links_to_the_new_bot_page_which_renders_the_strategy_schema(
    alice_client, sandbox_url
):
    listing = alice_client.get(reverse("trading:bot-list")).content.decode()
    assert reverse(NEW) in listing
    page = alice_client.get(reverse(NEW))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<option value="ema_cross"' in html and '<option value="spatial_arbitrage"' in html
    assert f'hx-get="{reverse("trading:bot-strategy-fields")}"' in html
    # each property of pure_market_making's schema, with its type, default and description
    assert 'name="params.bid_spread" value="0.001"' in html
    assert "Bid distance below mid (fraction)" in html
    assert 'name="params.order_levels" value="1" type="number" step="1" min="1" max="50"' in html
    assert 'type="checkbox" role="switch" id="id_params_inventory_skew_enabled"' in html
    assert f'value="exchange:{VENUE_A}"' in html


def test_alice_creates_a_paper_bot_through_the_page(alice, alice_client, new_bot_form):
    response = alice_client.post(reverse(NEW), new_bot_form())
    bot = Bot.objects.get(user=alice, name="page-mm")
    assert response.status_code == 302 and response.url == reverse(
        "trading:bot-detail", args=[bot.pk]
    )
    assert bot.status == "draft" and bot.mode == "paper" and bot.strategy == "pure_market_making"
    assert bot.symbols == ["BTC/USDT"] and bot.budget == Decimal("5000")
    assert bot.params["order_amount"] == "0.02" and bot.params["order_levels"] == 2
    assert bot.params["inventory_skew_enabled"] is True
    assert bot.params["bid_spread"] == "0.001"  # untouched: the schema's default
    assert bot.risk_limits == {"max_open_orders": 4, "stop_loss_fraction": "0.1"}
    assert [(v.exchange, v.exchange_account_id) for v in bot.venues.all()] == [(VENUE_A, None)]
    assert bot.paper_balances == {VENUE_A: {"USDT": "5000"}}
    detail = alice_client.get(response.url).content.decode()
    assert "created as a draft" in detail and reverse("trading:bot-update", args=[bot.pk]) in detail


def test_bad_fields_are_shown_next_to_each_field_and_nothing_is_saved(alice_client, new_bot_form):
    form = new_bot_form(
        **{
            "params.order_amount": "-1",
            "params.order_levels": "many",
            "params.bid_spread": "wide",
            "risk.max_exposure_fraction": "3",
            "symbols": "BTC/US-DT",
            "budget": "",
            "name": " ",
        }
    )
    response = alice_client.post(reverse(NEW), form)
    html = response.content.decode()
    assert response.status_code == 400
    for field in (
        "params_order_amount", "params_order_levels", "params_bid_spread",
        "risk_max_exposure_fraction", "symbols", "budget", "name",
    ):  # fmt: skip
        assert f'id="id_{field}-error"' in html, field
        assert f'aria-describedby="id_{field}-error"' in html, field
    assert "Give the bot a budget" in html and "Must be a fraction between 0 and 1" in html
    assert "&#x27;wide&#x27; is not a decimal number" in html
    # what was typed is shown again, not the defaults
    assert 'name="params.order_amount" value="-1"' in html
    assert 'value="BTC/US-DT"' in html
    assert not Bot.objects.exists()


def test_an_unknown_exchange_account_is_refused_at_its_select(alice_client, new_bot_form, bob):
    from exchanges.services.credentials import exchange_account_create

    bobs = exchange_account_create(
        user=bob, exchange=VENUE_A, label="bob", mode="paper", api_key="k" * 16, secret="s" * 16
    )
    response = alice_client.post(reverse(NEW), new_bot_form(venue_0=f"account:{bobs.pk}"))
    html = response.content.decode()
    assert response.status_code == 400 and 'id="id_venue_0-error"' in html
    assert "No such exchange account." in html
    assert not Bot.objects.exists()


def test_changing_the_strategy_swaps_in_its_venues_and_parameters(alice_client, sandbox_url):
    url = reverse("trading:bot-strategy-fields")
    response = alice_client.get(
        url, {"strategy": "spatial_arbitrage", "venue_0": f"exchange:{VENUE_A}"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div id="strategy-fields">')
    assert 'name="venue_0"' in html and 'name="venue_1"' in html
    assert f'<option value="exchange:{VENUE_A}" selected>' in html  # the choice survives
    assert "Exchange 1: first venue" in html and "Exchange 2: second venue" in html
    assert 'name="params.venue_a"' not in html  # the venue selects stand for these fields
    assert 'name="params.cooldown_ms" value="1000"' in html
    assert 'name="params.bid_spread"' not in html
    assert alice_client.get(url, {"strategy": "moon"}).status_code == 404


def test_a_two_venue_strategy_takes_its_venues_from_the_two_selects(
    alice, alice_client, new_bot_form
):
    form = new_bot_form(
        strategy="spatial_arbitrage",
        venue_1=f"exchange:{VENUE_B}",
        **{"params.order_amount": "0.01", "params.cooldown_ms": "500"},
    )
    for name in ("params.order_levels", "params.inventory_skew_enabled"):
        form.pop(name)
    response = alice_client.post(reverse(NEW), form)
    assert response.status_code == 302, response.content.decode()
    bot = Bot.objects.get(user=alice, name="page-mm")
    assert bot.params["venue_a"] == VENUE_A and bot.params["venue_b"] == VENUE_B
    assert list(bot.venues.values_list("exchange", flat=True)) == [VENUE_A, VENUE_B]

    response = alice_client.post(
        reverse(NEW), {**form, "name": "one-venue", "venue_1": ""}
    )  # the second venue missing is named at the second select
    html = response.content.decode()
    assert response.status_code == 400 and 'id="id_venue_1-error"' in html
    assert not Bot.objects.filter(name="one-venue").exists()


# -- live -----------------------------------------------------------------------------------
def test_live_without_second_factor_or_confirmation_is_refused(
    alice, alice_client, new_bot_form, live_account
):
    account = live_account(alice)
    form = new_bot_form(mode="live", venue_0=f"account:{account.pk}")
    response = alice_client.post(reverse(NEW), form)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_mode-error"' in html and "two-factor authentication" in html
    assert 'id="id_confirm_live-error"' in html and "real orders with real money" in html
    assert not Bot.objects.exists()


def test_live_with_2fa_recent_auth_and_confirmation_is_created(
    alice, alice_otp_client, new_bot_form, live_account
):
    account = live_account(alice)
    form = new_bot_form(mode="live", venue_0=f"account:{account.pk}")
    response = alice_otp_client.post(reverse(NEW), form)  # not confirmed
    assert response.status_code == 400 and 'id="id_confirm_live-error"' in response.content.decode()
    assert not Bot.objects.exists()

    response = alice_otp_client.post(reverse(NEW), {**form, "confirm_live": "on"})
    assert response.status_code == 302
    bot = Bot.objects.get(user=alice, name="page-mm")
    assert bot.mode == "live" and bot.venues.get().exchange_account_id == account.pk


def test_live_on_a_stale_session_asks_to_confirm_identity(
    alice, alice_otp_client, new_bot_form, live_account
):
    from accounts.security import AUTH_AT_SESSION_KEY

    session = alice_otp_client.session
    session[AUTH_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    account = live_account(alice)
    form = new_bot_form(mode="live", venue_0=f"account:{account.pk}", confirm_live="on")
    html = alice_otp_client.post(reverse(NEW), form).content.decode()
    assert "Confirm your identity" in html and reverse("accounts:confirm-identity") in html
    assert not Bot.objects.exists()


def test_live_on_a_paper_venue_is_refused(alice_otp_client, new_bot_form):
    form = new_bot_form(mode="live", confirm_live="on")
    html = alice_otp_client.post(reverse(NEW), form).content.decode()
    assert (
        'id="id_venue_0-error"' in html and "A live bot trades through an exchange account" in html
    )
    assert not Bot.objects.exists()


# -- edit -----------------------------------------------------------------------------------
def test_edit_is_prefilled_and_saves_through_the_service(alice_client, alice, make_bot):
    bot = make_bot(alice, name="alice-mm", risk_limits={"max_open_orders": 6})
    url = reverse("trading:bot-update", args=[bot.pk])
    html = alice_client.get(url).content.decode()
    assert 'name="name" value="alice-mm"' in html and 'name="budget" value="10000"' in html
    assert f'name="params.order_amount" value="{MM_PARAMS["order_amount"]}"' in html
    assert 'name="risk.max_open_orders" value="6"' in html
    response = alice_client.post(
        url,
        _edit_form(
            bot, budget="2500", **{"params.bid_spread": "0.002", "risk.max_open_orders": ""}
        ),
    )
    assert response.status_code == 302 and response.url == reverse(
        "trading:bot-detail", args=[bot.pk]
    )
    bot.refresh_from_db()
    assert bot.budget == Decimal("2500") and bot.params["bid_spread"] == "0.002"
    assert bot.params["order_amount"] == MM_PARAMS["order_amount"]
    assert bot.risk_limits == {}  # an emptied limit is off


def test_edit_with_bad_params_shows_the_errors_and_changes_nothing(alice_client, alice, make_bot):
    bot = make_bot(alice)
    before = _snapshot(bot)
    url = reverse("trading:bot-update", args=[bot.pk])
    response = alice_client.post(url, _edit_form(bot, **{"params.order_levels": "0"}))
    html = response.content.decode()
    assert response.status_code == 400 and 'id="id_params_order_levels-error"' in html
    assert _snapshot(bot) == before


def test_edit_of_a_running_bot_is_refused_but_its_name_and_limits_can_change(
    alice_client, alice, make_bot
):
    bot = make_bot(alice, name="runner")
    Bot.objects.filter(pk=bot.pk).update(status="running")
    bot.refresh_from_db()
    url = reverse("trading:bot-update", args=[bot.pk])
    page = alice_client.get(url).content.decode()
    assert "This bot is running: stop it before changing" in page
    before = _snapshot(bot)
    response = alice_client.post(url, _edit_form(bot, budget="1"))
    html = response.content.decode()
    assert response.status_code == 400
    assert "Stop the bot before changing it (it is running)." in html
    assert _snapshot(bot) == before

    response = alice_client.post(
        url, _edit_form(bot, name="runner-2", **{"risk.max_open_orders": "3"})
    )
    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.name == "runner-2" and bot.risk_limits == {"max_open_orders": 3}
    assert bot.status == "running" and bot.budget == before["budget"]


def test_switching_to_live_in_edit_needs_the_same_consent(
    alice, alice_client, make_bot, live_account
):
    account = live_account(alice)
    bot = make_bot(alice, venues=[{"exchange_account_id": account.pk}], paper_balances=None)
    before = _snapshot(bot)
    url = reverse("trading:bot-update", args=[bot.pk])
    html = alice_client.post(url, _edit_form(bot, mode="live")).content.decode()
    assert "two-factor authentication" in html and "real orders with real money" in html
    assert _snapshot(bot) == before


# -- who may -------------------------------------------------------------------------------
def test_bob_gets_404_on_alices_edit_page_and_her_bot_is_unchanged(alice, bob_client, make_bot):
    bot = make_bot(alice)
    before = _snapshot(bot)
    url = reverse("trading:bot-update", args=[bot.pk])
    assert bob_client.get(url).status_code == 404
    assert bob_client.post(url, _edit_form(bot, name="bobs-now", budget="1")).status_code == 404
    assert _snapshot(bot) == before


def test_bob_cannot_create_a_bot_on_alices_account(
    alice, bob, bob_client, new_bot_form, live_account
):
    account = live_account(alice)
    response = bob_client.post(reverse(NEW), new_bot_form(venue_0=f"account:{account.pk}"))
    assert response.status_code == 400 and "No such exchange account." in response.content.decode()
    assert not Bot.objects.exists()


def test_anonymous_is_sent_to_login(client, alice, make_bot, new_bot_form):
    bot = make_bot(alice)
    before = _snapshot(bot)
    urls = [
        reverse(NEW),
        reverse("trading:bot-strategy-fields"),
        reverse("trading:bot-update", args=[bot.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "login" in response.url, url
    for url in (reverse(NEW), reverse("trading:bot-update", args=[bot.pk])):
        response = client.post(url, new_bot_form(name="anon"))
        assert response.status_code == 302 and "login" in response.url, url
    assert _snapshot(bot) == before and Bot.objects.count() == 1


def test_a_password_only_session_of_a_2fa_user_stops_at_the_otp_step(
    alice, alice_totp, client, new_bot_form
):
    client.force_login(alice)
    response = client.post(reverse(NEW), new_bot_form())
    assert response.status_code == 302 and reverse("accounts:otp-verify") in response.url
    assert not Bot.objects.exists()


def test_posts_without_the_csrf_token_are_refused(alice, new_bot_form, make_bot):
    bot = make_bot(alice)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.post(reverse(NEW), new_bot_form(name="forged")).status_code == 403
    url = reverse("trading:bot-update", args=[bot.pk])
    assert browser.post(url, _edit_form(bot, name="forged")).status_code == 403
    assert not Bot.objects.filter(name="forged").exists()
