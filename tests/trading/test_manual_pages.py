"""The trading panel of an exchange account: owner only; HTMX form, errors and cancel."""

from decimal import Decimal

import pytest
from django.urls import reverse

from exchanges.gateway.clients import sync_client
from tests.trading.conftest import VENUE_A
from trading.models import Fill, Order
from trading.services import manual

HTMX = {"HTTP_HX_REQUEST": "true"}


def _client(account):
    sandbox = account.sandbox
    return sync_client(
        VENUE_A, api_key=sandbox.api_key, secret=sandbox.secret, sandbox_url=sandbox.base_url
    )


def _limit(alice, account, sandbox):
    book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
    price = (book.best_bid()[0] * Decimal("0.97")).quantize(Decimal("0.01"))
    return manual.manual_order_place(
        user=alice, account=account, symbol="BTC/USDT", side="buy", type="limit",
        qty="0.01", price=str(price),
    )  # fmt: skip


def _urls(account, order):
    return {
        "page": reverse("exchanges:account-trade", args=[account.pk]),
        "state": reverse("exchanges:account-trade-state", args=[account.pk]),
        "place": reverse("exchanges:account-trade-place", args=[account.pk]),
        "cancel": reverse("exchanges:account-trade-cancel", args=[account.pk, order.pk]),
    }


ORDER = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.01"}


def test_the_account_list_links_to_the_panel_which_shows_balances_and_open_orders(
    alice, alice_client, live_account, sandbox
):
    account = live_account(alice)
    order = _limit(alice, account, sandbox)
    listing = alice_client.get(reverse("exchanges:account-list")).content.decode()
    assert reverse("exchanges:account-trade", args=[account.pk]) in listing
    page = alice_client.get(_urls(account, order)["page"])
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-asset="USDT"' in html and 'data-asset="BTC"' in html
    assert f'data-client-order-id="{order.client_order_id}"' in html
    assert '<option value="BTC/USDT" selected>' in html


def test_an_order_placed_with_htmx_comes_back_with_the_refreshed_state(
    alice, alice_client, live_account
):
    account = live_account(alice)
    url = reverse("exchanges:account-trade-place", args=[account.pk])
    response = alice_client.post(url, ORDER, **HTMX)
    html = response.content.decode()
    order = Order.objects.get(exchange_account=account)
    assert response.status_code == 200 and f'data-placed="{order.client_order_id}"' in html
    assert order.status == Order.Status.FILLED
    fill = Fill.objects.get(order=order)
    assert f'data-trade-id="{fill.trade_id}"' in html and 'hx-swap-oob="true"' in html


def test_a_bad_order_shows_field_errors_and_changes_nothing(alice, alice_client, live_account):
    account = live_account(alice)
    url = reverse("exchanges:account-trade-place", args=[account.pk])
    response = alice_client.post(url, {**ORDER, "qty": "500"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "Insufficient balance" in html
    assert "data-form-error" in html
    plain = alice_client.post(url, {**ORDER, "type": "limit", "price": ""})
    assert plain.status_code == 400 and "Required" in plain.content.decode()
    assert not Order.objects.exists()


def test_cancel_from_the_panel_cancels_on_the_exchange(alice, alice_client, live_account, sandbox):
    account = live_account(alice)
    order = _limit(alice, account, sandbox)
    response = alice_client.post(_urls(account, order)["cancel"], **HTMX)
    assert response.status_code == 200
    assert f'data-client-order-id="{order.client_order_id}"' not in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert _client(account).fetch_open_orders("BTC/USDT") == []


def test_bob_gets_404_on_alices_panel_orders_and_cancel_and_nothing_changes(
    alice, bob_client, live_account, sandbox
):
    account = live_account(alice)
    order = _limit(alice, account, sandbox)
    urls = _urls(account, order)
    for name in ("page", "state"):
        assert bob_client.get(urls[name]).status_code == 404, name
    assert bob_client.post(urls["place"], ORDER).status_code == 404
    assert bob_client.post(urls["cancel"]).status_code == 404
    order.refresh_from_db()
    assert order.status == Order.Status.OPEN and Order.objects.count() == 1
    assert len(_client(account).fetch_open_orders("BTC/USDT")) == 1


def test_anonymous_is_sent_to_sign_in_and_nothing_changes(
    alice, anonymous_client, live_account, sandbox
):
    account = live_account(alice)
    order = _limit(alice, account, sandbox)
    urls = _urls(account, order)
    for name in ("page", "state"):
        response = anonymous_client.get(urls[name])
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name
    for name in ("place", "cancel"):
        response = anonymous_client.post(urls[name], ORDER)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name
    order.refresh_from_db()
    assert order.status == Order.Status.OPEN and Order.objects.count() == 1


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_accounts_order_id_is_404(alice, alice_client, live_account, sandbox, method):
    account, other = live_account(alice), live_account(alice)
    order = _limit(alice, other, sandbox)
    url = reverse("exchanges:account-trade-cancel", args=[account.pk, order.pk])
    response = getattr(alice_client, method)(url)
    assert response.status_code == (405 if method == "get" else 404)
    order.refresh_from_db()
    assert order.status == Order.Status.OPEN


def test_the_pages_that_show_bots_show_the_manual_record_with_its_fills(
    alice, alice_client, live_account
):
    account = live_account(alice)
    order = manual.manual_order_place(user=alice, account=account, **ORDER)
    bot = order.bot
    pages = [
        reverse("home"),
        reverse("trading:bot-list"),
        reverse("trading:bot-detail", args=[bot.pk]),
        reverse("trading:bot-chart", args=[bot.pk]),
        reverse("trading:bot-trades", args=[bot.pk]),
        reverse("portfolio:overview"),
    ]
    for url in pages:
        assert alice_client.get(url).status_code == 200, url
    detail = alice_client.get(reverse("trading:bot-detail", args=[bot.pk])).content.decode()
    assert bot.name in detail and Fill.objects.get(order=order).trade_id in detail
    started = alice_client.post(reverse("trading:bot-action", args=[bot.pk, "start"]))
    assert started.status_code in (200, 302, 400)
    bot.refresh_from_db()
    assert bot.status == "stopped"


def test_without_javascript_the_forms_carry_their_csrf_token_and_work(alice, live_account, sandbox):
    import re

    from django.test import Client

    account = live_account(alice)
    order = _limit(alice, account, sandbox)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    urls = _urls(account, order)
    html = browser.get(urls["page"]).content.decode()
    form = html[html.index('id="trade-form"') :].split("</form>")[0]
    cancel = html[html.index(f'data-client-order-id="{order.client_order_id}"') :]
    cancel = cancel.split("</form>")[0]
    token = r'name="csrfmiddlewaretoken" value="([^"]+)"'
    placed = browser.post(
        urls["place"], {**ORDER, "csrfmiddlewaretoken": re.search(token, form)[1]}
    )
    assert placed.status_code == 302
    cancelled = browser.post(urls["cancel"], {"csrfmiddlewaretoken": re.search(token, cancel)[1]})
    assert cancelled.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert Order.objects.filter(exchange_account=account, status="filled").count() == 1
    assert browser.post(urls["place"], ORDER).status_code == 403  # no token: refused
