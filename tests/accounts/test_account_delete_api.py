"""Deleting an account over the API: POST /api/v1/me/delete/ with the page's confirmations
(the typed email, the password and, with 2FA, a current code), for a session and a token alike;
a read token is refused. Bots are stopped first and the audit trail is kept; every refusal
changes nothing."""

from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import audit_record
from tests.conftest import PASSWORD
from tests.trading.conftest import VENUE_A
from trading.models import Bot, Order
from trading.services.bots import bot_start

URL = "/api/v1/me/delete/"


def _post(token: str | None, body: dict, client: Client | None = None):
    client = client or Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(URL, body, content_type="application/json", **headers)


def _exists(user) -> bool:
    return type(user).objects.filter(pk=user.pk, is_active=True).exists()


def test_the_route_is_the_accounts_api_delete():
    assert reverse("accounts-api-delete") == URL


def test_a_token_deletes_the_account_with_email_password_and_code(
    alice, alice_totp, totp_code, bob, api_token_for, make_bot
):
    token = api_token_for(alice, "trade")
    bot = make_bot(alice, name="running")
    bot_start(bot=bot)
    bobs = make_bot(bob, name="bob's")
    audit_record(actor=alice, action="alice.history")
    body = {"email": " Alice@Example.com ", "password": PASSWORD, "code": totp_code(alice_totp)}
    response = _post(token, body)
    assert response.status_code == 204, response.content
    assert not type(alice).objects.filter(pk=alice.pk).exists()
    assert not Bot.objects.filter(pk=bot.pk).exists() and Bot.objects.filter(pk=bobs.pk).exists()
    kept = AuditEvent.objects.filter(actor_id=alice.pk)
    actions = set(kept.values_list("action", flat=True))
    assert {"alice.history", "account.delete"} <= actions, actions
    deleted = kept.get(action="account.delete")
    assert deleted.actor_email == "alice@example.com" and deleted.after["bots"] == 1
    assert audit_chain_verify().ok
    assert _post(token, {"email": "x", "password": "y"}).status_code == 401  # token gone


def test_a_session_without_two_factor_needs_email_and_password(alice, alice_client):
    assert _post(None, {"email": alice.email}, alice_client).status_code == 400
    response = _post(None, {"email": alice.email, "password": PASSWORD}, alice_client)
    assert response.status_code == 204
    assert not type(alice).objects.filter(pk=alice.pk).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "bob@example.com", "password": PASSWORD, "code": "OK"}, "email"),
        ({"email": "alice@example.com", "password": "wrong", "code": "OK"}, "password"),
        ({"email": "alice@example.com", "password": PASSWORD}, "code"),
        ({"email": "alice@example.com", "password": PASSWORD, "code": "000000"}, "code"),
        ({"password": PASSWORD, "code": "OK"}, "email"),
        ({"email": "alice@example.com", "code": "OK"}, "password"),
        ({"email": ["alice@example.com"], "password": PASSWORD, "code": "OK"}, "email"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    alice, alice_totp, totp_code, api_token_for, make_bot, body, field
):
    token = api_token_for(alice, "trade")
    bot = make_bot(alice)
    bot_start(bot=bot)
    started = Bot.objects.get(pk=bot.pk).status
    if body.get("code") == "OK":
        body = {**body, "code": totp_code(alice_totp)}
    events = AuditEvent.objects.filter(action="account.delete").count()
    response = _post(token, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert _exists(alice)
    assert Bot.objects.get(pk=bot.pk).status == started != "stopped"
    assert ApiToken.objects.filter(user=alice, revoked_at__isnull=True).count() == 1
    assert AuditEvent.objects.filter(action="account.delete").count() == events


def test_a_read_token_and_anonymous_are_refused(alice, api_token_for):
    body = {"email": alice.email, "password": PASSWORD}
    read = _post(api_token_for(alice, "read"), body)
    assert read.status_code == 403 and "read scope" in read.json()["error"]["message"]
    assert _post(None, body).status_code in (401, 403)
    assert _exists(alice)


def test_bob_cannot_delete_alices_account_even_knowing_her_password(alice, bob, api_token_for):
    """The endpoint acts on the caller only: bob's token with alice's email is a wrong email."""
    response = _post(api_token_for(bob, "trade"), {"email": alice.email, "password": PASSWORD})
    assert response.status_code == 400 and "email" in response.json()["error"]["fields"]
    assert _exists(alice) and _exists(bob)


def test_open_orders_of_a_live_bot_refuse_the_deletion_with_409_and_change_nothing(
    alice, api_token_for, make_bot
):
    token = api_token_for(alice, "trade")
    bot = make_bot(alice)
    bot_start(bot=bot)
    Order.objects.create(
        bot=bot, user=alice, mode="live", exchange=VENUE_A, symbol="BTC/USDT", side="buy",
        client_order_id=f"pg{bot.pk}-open", type="limit", price=D("1"), qty=D("1"), status="open",
    )  # fmt: skip
    Bot.objects.filter(pk=bot.pk).update(mode="live")  # a live bot whose cancel is pending
    response = _post(token, {"email": alice.email, "password": PASSWORD})
    assert response.status_code == 409
    assert "still open" in response.json()["error"]["message"]
    assert _exists(alice) and Bot.objects.filter(pk=bot.pk).exists()
    assert ApiToken.objects.filter(user=alice, revoked_at__isnull=True).count() == 1
    assert not AuditEvent.objects.filter(action="account.delete").exists()
