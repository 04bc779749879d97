"""A freshly created pure market maker with quote currency only visibly works: it bids, sends
no ask the venue would refuse, and its page says in words why it quotes one side; a start
inventory lets it quote both sides from the start."""

from decimal import Decimal

import pytest
from django.urls import reverse

from tests.trading.conftest import VENUE_A
from trading.models import Bot, Order
from trading.runtime.runner import BotRunner
from trading.services.bots import bot_start

QUOTE_ONLY = {VENUE_A: {"USDT": "10000"}}


def _run(bot, feeder):
    with feeder(step=0.0):  # a still market: nothing fills, the quotes just rest
        BotRunner(bot.pk).run()
    bot.refresh_from_db()


@pytest.mark.django_db(transaction=True)
def test_a_quote_only_maker_bids_and_its_page_says_why_it_does_not_ask(
    alice, alice_client, bob_client, make_bot, feeder
):
    bot = make_bot(alice, paper_balances=None)  # the budget as cash, nothing else
    assert bot.paper_balances == {VENUE_A: {"USDT": "10000"}}
    bot_start(bot=bot)
    _run(bot, feeder)
    assert bot.status == Bot.Status.RUNNING
    orders = Order.objects.filter(bot=bot)
    assert orders.exists() and set(orders.values_list("side", flat=True)) == {"buy"}
    assert not orders.filter(status="rejected").exists()  # no ask sent to be refused
    note = bot.quoting_note
    assert note.startswith("Quoting bids only: the bot holds 0 BTC, and an ask needs 0.01 BTC.")
    assert "once a bid fills" in note and "start inventory" in note
    page = alice_client.get(reverse("trading:bot-detail", args=[bot.pk])).content.decode()
    assert "Quoting bids only" in page
    assert bob_client.get(reverse("trading:bot-detail", args=[bot.pk])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_start_inventory_lets_it_quote_both_sides_from_the_start(alice, make_bot, feeder):
    bot = make_bot(alice, paper_balances=None, start_inventory="0.05")
    assert bot.paper_balances == {VENUE_A: {"USDT": "10000", "BTC": "0.05"}}
    bot_start(bot=bot)
    _run(bot, feeder)
    sides = set(Order.objects.filter(bot=bot).values_list("side", flat=True))
    assert sides == {"buy", "sell"}
    assert bot.quoting_note == ""


@pytest.mark.django_db
def test_the_form_takes_a_start_inventory_and_refuses_a_bad_one(alice, alice_client, sandbox_url):
    form = {
        "name": "inv", "strategy": "pure_market_making", "venue_0": f"exchange:{VENUE_A}",
        "symbols": "BTC/USDT", "budget": "1000", "mode": "paper", "on_breach": "pause",
        "timer_ms": "1000", "params_present": "1", "start_inventory": "0.05",
    }  # fmt: skip
    response = alice_client.post(reverse("trading:bot-create"), form)
    assert response.status_code == 302
    bot = Bot.objects.get(user=alice, name="inv")
    assert bot.paper_balances == {VENUE_A: {"USDT": "1000", "BTC": "0.05"}}
    for bad, words in [("-1", "Must be a positive number."), ("lots", "is not a number")]:
        response = alice_client.post(
            reverse("trading:bot-create"), {**form, "name": "inv2", "start_inventory": bad}
        )
        html = response.content.decode()
        assert response.status_code == 400 and words in html
        assert 'id="id_start_inventory-error"' in html
        assert '<a href="#id_start_inventory">Start inventory</a>' in html
    assert not Bot.objects.filter(name="inv2").exists()


def test_live_bots_take_no_start_inventory():
    from trading.services.bots import _start_inventory_add

    errors, balances = {}, {}
    _start_inventory_add("0.1", "live", ["BTC/USDT"], balances, errors)
    assert "Only paper bots take a start inventory" in errors["start_inventory"]
    assert balances == {}
    _start_inventory_add(Decimal("0.1"), "paper", ["ETH/USDT"], (b := {"x": {"USDT": "5"}}), {})
    assert b == {"x": {"USDT": "5", "ETH": "0.1"}}
