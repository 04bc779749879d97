"""The new-bot form as a new user meets it: errors on top and at the field, placeholders that
cannot pass for values, the user's accounts before a short list of paper venues (not every ccxt
id), and one meaning of "budget" on the form, the API and the bot page."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from django.urls import reverse

from exchanges.services.credentials import exchange_account_create
from marketdata.models import Instrument
from tests.trading.conftest import VENUE_A
from trading.models import BUDGET_HELP, Bot

NEW = "trading:bot-create"


def _form(**changes):
    form = {
        "name": "first",
        "strategy": "pure_market_making",
        "venue_0": f"exchange:{VENUE_A}",
        "symbols": "BTC/USDT",
        "budget": "1000",
        "mode": "paper",
        "on_breach": "pause",
        "timer_ms": "1000",
        "params_present": "1",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


@pytest.mark.django_db
def test_errors_are_listed_on_top_linking_to_the_field_that_shows_them_too(
    alice_client, sandbox_url
):
    response = alice_client.post(
        reverse(NEW), _form(name="", budget="-5", **{"params.order_levels": "0"})
    )
    assert response.status_code == 400
    page = html_lib.unescape(response.content.decode())
    top = page[page.index('id="form-errors"') : page.index("</ul>", page.index('id="form-errors"'))]
    assert "The bot was not created: 3 things to fix." in top
    for anchor, label in [
        ("id_name", "Name"),
        ("id_budget", "Budget"),
        ("id_params_order_levels", "Order levels"),
    ]:
        message = re.search(rf'<a href="#{anchor}">{label}</a>: ([^<]+)</li>', top).group(1)
        at_field = re.search(rf'id="{anchor}-error" role="alert">([^<]+)</small>', page).group(1)
        assert message == at_field  # the same words in both places
        assert f'id="{anchor}"' in page  # the link lands on the input
    assert not Bot.objects.exists()


@pytest.mark.django_db
def test_an_error_without_an_input_is_listed_on_top_without_a_link(alice_client, sandbox_url):
    response = alice_client.post(reverse(NEW), _form(strategy="no_such_strategy"))
    page = html_lib.unescape(response.content.decode())
    assert 'id="form-errors"' in page
    assert re.search(r'<li>(<a href="#id_strategy">Strategy</a>: )?[^<]*strateg', page, re.I)


@pytest.mark.django_db
def test_no_placeholder_can_pass_for_a_value(alice_client, sandbox_url):
    page = alice_client.get(reverse(NEW)).content.decode()
    inputs = re.findall(r"<input[^>]*>", page)
    placeholders = [re.search(r'placeholder="([^"]*)"', i) for i in inputs]
    shown = [(i, p.group(1)) for i, p in zip(inputs, placeholders, strict=True) if p]
    assert len(shown) > 10
    for tag, text in shown:
        assert re.match(r"(e\.g\. |default )|off$", text), text
        value = re.search(r'value="([^"]*)"', tag)
        assert value is None or value.group(1) != text, tag


@pytest.mark.django_db
def test_the_exchange_choice_lists_own_accounts_first_and_no_raw_ccxt_ids(
    alice, alice_client, sandbox_url
):
    account = exchange_account_create(
        user=alice, exchange="sandbox", label="My sandbox", mode="paper", api_key="k" * 8,
        secret="s" * 8,
    )  # fmt: skip
    Instrument.objects.create(exchange="binance", symbol="BTC/USDT", base="BTC", quote="USDT")
    page = html_lib.unescape(alice_client.get(reverse(NEW)).content.decode())
    select = page[page.index('id="id_venue_0"') : page.index("</select>", page.index("id_venue_0"))]
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)
    values = [value for value, _ in options]
    assert values[1] == f"account:{account.pk}"  # after "Choose…": the user's own account
    assert "My sandbox — sandbox, paper" in dict(options)[f"account:{account.pk}"]
    assert select.index("Your exchange accounts") < select.index("Paper trading without")
    assert dict(options)["exchange:binance"] == "Binance — public prices"
    assert "exchange:kraken" not in values  # a ccxt id without collected markets
    assert len(options) < 12
    # a bot posted on an exchange outside the short list keeps its choice when shown again
    again = alice_client.post(reverse(NEW), _form(name="", venue_0="exchange:kraken"))
    assert 'value="exchange:kraken" selected' in again.content.decode()


@pytest.mark.django_db
def test_budget_means_the_same_on_the_form_the_api_and_the_bot_page(
    alice, alice_client, make_bot, sandbox_url
):
    assert BUDGET_HELP in html_lib.unescape(alice_client.get(reverse(NEW)).content.decode())
    bot = make_bot(alice, budget="2500")
    page = html_lib.unescape(
        alice_client.get(reverse("trading:bot-detail", args=[bot.pk])).content.decode()
    )
    assert f'<span title="{BUDGET_HELP}">budget 2,500.00 USDT</span>' in page
    schema = alice_client.get("/api/schema/").content.decode()
    assert BUDGET_HELP.split(":")[0] in html_lib.unescape(schema)
