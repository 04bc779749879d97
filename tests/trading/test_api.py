"""The trading API for the three personas: alice (owner), bob (404, nothing changes), anonymous."""

import pytest
from django.test import Client

from tests.trading.conftest import VENUE_A
from trading.models import Bot, Fill, KillSwitch, Order, Signal
from trading.services.bots import bot_start

ACTIONS = ["start", "pause", "resume", "stop", "kill"]


@pytest.fixture
def alice_bot(alice, make_bot):
    bot = make_bot(alice, name="alice-mm")
    order = Order.objects.create(
        bot=bot, user=alice, mode="paper", exchange=VENUE_A, symbol="BTC/USDT",
        client_order_id=f"{bot.client_id_prefix}1-1", side="buy", type="limit", qty="0.01",
        price="30000", status="filled", filled_qty="0.01", avg_price="30000",
    )  # fmt: skip
    Fill.objects.create(
        bot=bot, order=order, user=alice, mode="paper", exchange=VENUE_A,
        account_key=f"paper-{bot.pk}", symbol="BTC/USDT", trade_id="t-1", side="buy",
        price="30000", qty="0.01", fee="0.3", fee_asset="USDT", liquidity="maker",
        executed_at="2026-01-01T00:00:00Z", source="paper",
    )  # fmt: skip
    Signal.objects.create(bot=bot, at="2026-01-01T00:00:00Z", symbol="BTC/USDT", kind="entry",
                          indicators={"fast": 1.0, "slow": 0.5})  # fmt: skip
    bot.order = order
    return bot


def _urls(bot):
    base = f"/api/v1/bots/{bot.pk}/"
    return {
        "detail": base,
        "signals": f"{base}signals/",
        "events": f"{base}events/",
        "order": f"/api/v1/orders/{bot.order.pk}/",
    }


def test_alice_reads_her_bot_orders_fills_signals_and_events(alice_client, alice_bot):
    body = alice_client.get("/api/v1/bots/").json()
    assert [b["name"] for b in body] == ["alice-mm"]
    detail = alice_client.get(f"/api/v1/bots/{alice_bot.pk}/").json()
    assert detail["status"] == "draft" and detail["venues"][0]["exchange"] == VENUE_A
    assert detail["budget"] == "10000.000000000000000000"
    orders = alice_client.get(f"/api/v1/orders/?bot={alice_bot.pk}").json()
    assert orders["count"] == 1 and orders["results"][0]["filled_qty"] == "0.010000000000000000"
    fills = alice_client.get("/api/v1/fills/").json()
    assert fills["results"][0]["trade_id"] == "t-1"
    assert fills["results"][0]["client_order_id"] == alice_bot.order.client_order_id
    signals = alice_client.get(f"/api/v1/bots/{alice_bot.pk}/signals/").json()
    assert signals["results"][0]["indicators"] == {"fast": 1.0, "slow": 0.5}
    events = alice_client.get(f"/api/v1/bots/{alice_bot.pk}/events/").json()
    assert events["results"][0]["kind"] == "created"


def test_bob_gets_404_on_every_endpoint_and_alices_bot_is_unchanged(bob_client, alice_bot):
    before = Bot.objects.filter(pk=alice_bot.pk).values().get()
    for url in _urls(alice_bot).values():
        assert bob_client.get(url).status_code == 404, url
    for action in ACTIONS:
        response = bob_client.post(f"/api/v1/bots/{alice_bot.pk}/{action}/", {})
        assert response.status_code == 404, action
    assert bob_client.get(f"/api/v1/orders/?bot={alice_bot.pk}").status_code == 404
    assert bob_client.get(f"/api/v1/fills/?bot={alice_bot.pk}").status_code == 404
    assert bob_client.get("/api/v1/bots/").json() == []
    assert bob_client.get("/api/v1/orders/").json()["count"] == 0
    assert bob_client.get("/api/v1/fills/").json()["count"] == 0
    assert Bot.objects.filter(pk=alice_bot.pk).values().get() == before
    assert Order.objects.get(pk=alice_bot.order.pk).status == "filled"


def test_anonymous_is_refused_everywhere(alice_bot):
    anonymous = Client()
    urls = [*_urls(alice_bot).values(), "/api/v1/bots/", "/api/v1/orders/", "/api/v1/fills/"]
    for url in urls:
        assert anonymous.get(url).status_code in (401, 403), url
    for action in ACTIONS:
        assert anonymous.post(f"/api/v1/bots/{alice_bot.pk}/{action}/").status_code in (401, 403)
    assert anonymous.post("/api/v1/bots/", {}).status_code in (401, 403)
    assert anonymous.post("/api/v1/kill-switch/").status_code in (401, 403)
    assert Bot.objects.get(pk=alice_bot.pk).status == "draft"


def test_alice_creates_a_paper_bot_and_gets_field_errors_for_bad_input(alice_client, sandbox_url):
    payload = {
        "name": "api-bot",
        "strategy": "pure_market_making",
        "params": {"order_amount": "0.01"},
        "symbols": ["BTC/USDT"],
        "venues": [{"exchange": VENUE_A}],
        "budget": "5000",
    }
    created = alice_client.post("/api/v1/bots/", payload, content_type="application/json")
    assert created.status_code == 201, created.json()
    assert created.json()["mode"] == "paper" and created.json()["status"] == "draft"
    bad = {**payload, "name": "other", "params": {"order_amount": "-1", "nope": 1}}
    response = alice_client.post("/api/v1/bots/", bad, content_type="application/json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert {"params.order_amount", "params.nope"} <= set(fields)
    assert Bot.objects.filter(name="other").count() == 0


def test_a_live_bot_cannot_be_created_with_an_api_token(
    alice, alice_totp, api_token_for, live_account, sandbox_url
):
    account = live_account(alice)
    token = api_token_for(alice, "trade")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    payload = {
        "name": "live-by-token",
        "strategy": "pure_market_making",
        "symbols": ["BTC/USDT"],
        "venues": [{"exchange_account_id": str(account.pk)}],
        "budget": "5000",
        "mode": "live",
        "confirm_live": True,
    }
    response = client.post("/api/v1/bots/", payload, content_type="application/json")
    assert response.status_code == 400
    assert "mode" in response.json()["error"]["fields"]
    assert not Bot.objects.filter(name="live-by-token").exists()


def test_a_read_token_reads_but_cannot_trade(alice, alice_bot, api_token_for):
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice, 'read')}")
    assert reader.get(f"/api/v1/bots/{alice_bot.pk}/").status_code == 200
    assert reader.post(f"/api/v1/bots/{alice_bot.pk}/start/").status_code == 403
    assert reader.post("/api/v1/kill-switch/").status_code == 403
    assert reader.post("/api/v1/bots/", {}, content_type="application/json").status_code == 403
    assert Bot.objects.get(pk=alice_bot.pk).status == "draft"
    trader = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice, 'trade')}")
    response = trader.post(f"/api/v1/bots/{alice_bot.pk}/start/")
    assert response.status_code == 200 and response.json()["status"] == "starting"


def test_actions_move_the_state_machine_and_refusals_say_why(alice_client, alice_bot):
    url = f"/api/v1/bots/{alice_bot.pk}/"
    assert alice_client.post(f"{url}start/").json()["status"] == "starting"
    refused = alice_client.post(f"{url}start/")
    assert refused.status_code == 400
    assert "cannot be started" in refused.json()["error"]["fields"]["status"][0]
    assert alice_client.post(f"{url}pause/").json()["status"] == "paused"
    assert alice_client.post(f"{url}resume/").json()["status"] == "starting"
    killed = alice_client.post(f"{url}kill/", {"reason": "test"}).json()
    assert killed["status"] == "stopped" and killed["orders_cancelled"] == 0


def test_the_users_kill_switch_stops_only_their_bots(alice, bob, alice_client, make_bot):
    mine = bot_start(bot=make_bot(alice))
    bobs = bot_start(bot=make_bot(bob))
    response = alice_client.post("/api/v1/kill-switch/", {"reason": "panic"})
    assert response.status_code == 201 and response.json()["bots_stopped"] == 1
    assert Bot.objects.get(pk=mine.pk).status == "stopped"
    assert Bot.objects.get(pk=bobs.pk).status == "starting"
    assert KillSwitch.objects.get().user_id == alice.pk
