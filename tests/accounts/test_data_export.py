"""A user downloads all their data as one zip archive, and deletes their account (bots stopped
and orders cancelled first; the audit trail kept). Only the owner gets either."""

import csv
import io
import json
import zipfile
from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.data_export import user_data_archive
from compliance.models import AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import audit_record
from exchanges.gateway.clients import sync_client
from tests.trading.conftest import VENUE_A
from trading.models import Bot, Fill, Order
from trading.runtime.runner import BotRunner
from trading.services.bots import LiveConsent, bot_create, bot_start

LIVE_OK = LiveConsent(second_factor_verified=True, recently_authenticated=True, confirmed=True)


def _trade(bot, n, price="30000.5", qty="0.0125"):
    order = Order.objects.create(
        bot=bot, user=bot.user, mode=bot.mode, exchange=VENUE_A, symbol="BTC/USDT",
        client_order_id=f"pg{bot.pk}-x{n}", side="buy", type="limit", price=D(price),
        qty=D(qty), filled_qty=D(qty), status="filled",
    )  # fmt: skip
    return Fill.objects.create(
        bot=bot, order=order, user=bot.user, mode=bot.mode, exchange=VENUE_A,
        account_key=f"paper:{bot.pk}", symbol="BTC/USDT", trade_id=f"t{bot.pk}-{n}", side="buy",
        price=D(price), qty=D(qty), fee=D("0.00000001"), fee_asset="BTC", liquidity="maker",
        executed_at=timezone.now(), source="poll",
    )  # fmt: skip


@pytest.fixture
def alices_data(alice, bob, make_bot, live_account, alice_totp):
    account = live_account(alice, label="main live")
    bot = make_bot(alice, name="alice grid")
    fills = [_trade(bot, n) for n in range(3)]
    bobs = make_bot(bob, name="bob secret bot")
    _trade(bobs, 0, price="12345.678")
    audit_record(actor=alice, action="alice.did.this")
    audit_record(actor=bob, action="bob.did.that")
    return {"account": account, "bot": bot, "fills": fills}


def _archive(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def _csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_the_archive_holds_all_of_alices_data_and_none_of_bobs_or_any_secret(
    alice, alice_otp_client, alices_data, api_token_for
):
    raw_token = api_token_for(alice, "read")
    response = alice_otp_client.get(reverse("accounts:data-download"))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    files = _archive(body)
    assert set(files) == {
        "README.txt", "account.json", "exchange_accounts.json", "bots.json",
        "orders.csv", "fills.csv", "audit_events.csv",
    }  # fmt: skip
    account = json.loads(files["account.json"])
    assert account["user"]["email"] == "alice@example.com"
    assert account["verification"]["status"] == "unverified"
    assert [t["name"] for t in account["api_tokens"]] == ["read token"]
    exchange_accounts = json.loads(files["exchange_accounts.json"])
    assert [a["label"] for a in exchange_accounts] == ["main live"]
    assert exchange_accounts[0]["api_key_last4"] == alices_data["account"].api_key_last4
    assert [b["name"] for b in json.loads(files["bots.json"])] == ["alice grid"]
    fills = _csv(files["fills.csv"])
    assert len(fills) == 3 and {D(f["price"]) for f in fills} == {D("30000.5")}
    assert {D(f["fee"]) for f in fills} == {D("0.00000001")}  # exact, no float on the way
    assert len(_csv(files["orders.csv"])) == 3
    actions = {e["action"] for e in _csv(files["audit_events.csv"])}
    assert "alice.did.this" in actions and "bob.did.that" not in actions
    everything = b"".join(files.values()).decode()
    sandbox_account = alices_data["account"].sandbox
    for secret in (sandbox_account.api_key, sandbox_account.secret, raw_token, "ciphertext"):
        assert secret not in everything
    assert "bob" not in everything and "12345.678" not in everything
    assert AuditEvent.objects.filter(actor=alice, action="account.data_download").exists()


def test_the_archive_streams_in_chunks(alice, alices_data):
    alice_bot = alices_data["bot"]
    for n in range(3, 1500):
        _trade(alice_bot, n)
    chunks = list(user_data_archive(user=alice))
    assert len([c for c in chunks if c]) > 3  # handed on as it is built, not in one piece
    files = _archive(b"".join(chunks))
    assert len(_csv(files["fills.csv"])) == 1500


def test_bob_and_anonymous_cannot_get_alices_archive(
    alice, bob, bob_client, client, alices_data, api_token_for
):
    # bob's own download holds bob's data only: there is no way to name alice's
    files = _archive(b"".join(bob_client.get(reverse("accounts:data-download")).streaming_content))
    assert "alice" not in b"".join(files.values()).decode()
    response = client.get(reverse("accounts:data-download"))
    assert response.status_code == 302 and "login" in response.url
    assert client.get(reverse("accounts-api-data")).status_code in (401, 403)
    bad = client.get(reverse("accounts-api-data"), HTTP_AUTHORIZATION="Bearer prg_not-a-token")
    assert bad.status_code == 401
    bobs_token = api_token_for(bob, "read")
    response = Client().get(reverse("accounts-api-data"), HTTP_AUTHORIZATION=f"Bearer {bobs_token}")
    assert response.status_code == 200
    assert "alice" not in b"".join(_archive(b"".join(response.streaming_content)).values()).decode()


def test_the_api_gives_the_same_archive_to_a_token(alice, alices_data, api_token_for):
    raw = api_token_for(alice, "read")
    response = Client().get(reverse("accounts-api-data"), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    files = _archive(b"".join(response.streaming_content))
    assert len(_csv(files["fills.csv"])) == 3


def test_download_and_delete_need_a_recent_identity_check(alice_stale_client):
    for name in ("accounts:data-download", "accounts:account-delete"):
        response = alice_stale_client.get(reverse(name))
        assert response.status_code == 302 and "confirm-identity" in response.url
    response = alice_stale_client.post(
        reverse("accounts:account-delete"), {"email": "alice@example.com"}
    )
    assert "confirm-identity" in response.url


@pytest.mark.django_db(transaction=True)
def test_deleting_stops_live_bots_cancels_their_orders_and_keeps_the_audit_trail(
    alice, alice_totp, alice_otp_client, bob, live_account, sandbox, market
):
    """The kill's cancel task runs at commit (eagerly here, on a worker in production); when
    orders are still open after it the deletion is refused (see the next test)."""
    from accounts.security import AUTH_AT_SESSION_KEY

    session = alice_otp_client.session
    session[AUTH_AT_SESSION_KEY] = timezone.now().timestamp()
    session.save()
    account = live_account(alice, funds={"USDT": "100000", "BTC": "0.1"})
    bot = bot_create(
        user=alice, name="live-to-delete", strategy="pure_market_making",
        params={"order_amount": "0.01", "order_refresh_time_ms": 60_000}, symbols=["BTC/USDT"],
        venues=[{"exchange_account_id": account.pk}], budget="10000", mode="live", live=LIVE_OK,
    )  # fmt: skip
    bot_start(bot=bot, live=LIVE_OK)
    book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
    market.book(VENUE_A, "BTC/USDT", book.best_bid()[0] - 50, book.best_ask()[0] + 50)
    assert BotRunner(bot.pk).run() == "continued"
    exchange = sync_client(VENUE_A, api_key=account.sandbox.api_key, secret=account.sandbox.secret,
                           sandbox_url=account.sandbox.base_url)  # fmt: skip
    assert len(exchange.fetch_open_orders("BTC/USDT")) == 2
    audit_record(actor=alice, action="alice.history")
    bob_bot_count = Bot.objects.filter(user=bob).count()
    # a wrong email is refused and changes nothing
    url = reverse("accounts:account-delete")
    assert alice_otp_client.get(url).status_code == 200
    refused = alice_otp_client.post(url, {"email": "bob@example.com"})
    assert refused.status_code == 400 and type(alice).objects.filter(pk=alice.pk).exists()
    from config.celery import app

    app.conf.task_always_eager = True  # the kill's cancel task runs here, at commit
    try:
        response = alice_otp_client.post(url, {"email": "Alice@Example.com"})
    finally:
        app.conf.task_always_eager = False
    assert response.status_code == 302 and response.url == reverse("home")
    assert exchange.fetch_open_orders("BTC/USDT") == []  # cancelled on the exchange first
    assert not type(alice).objects.filter(pk=alice.pk).exists()
    assert not Bot.objects.filter(pk=bot.pk).exists() and not Order.objects.filter(bot_id=bot.pk)
    assert Bot.objects.filter(user=bob).count() == bob_bot_count
    kept = AuditEvent.objects.filter(actor_id=alice.pk)
    assert {"alice.history", "account.delete"} <= set(kept.values_list("action", flat=True))
    assert kept.get(action="account.delete").actor_email == "alice@example.com"
    assert audit_chain_verify().ok
    page = alice_otp_client.get(reverse("accounts:security"))  # signed out
    assert page.status_code == 302 and "login" in page.url


def test_deleting_while_orders_are_still_open_changes_nothing(alice, alice_client, make_bot):
    bot = make_bot(alice)
    bot_start(bot=bot)
    _trade(bot, 0)
    Order.objects.create(
        bot=bot, user=alice, mode="live", exchange=VENUE_A, symbol="BTC/USDT", side="buy",
        client_order_id=f"pg{bot.pk}-open", type="limit", price=D("1"), qty=D("1"), status="open",
    )  # fmt: skip
    Bot.objects.filter(pk=bot.pk).update(mode="live")  # a live bot whose cancel is pending
    response = alice_client.post(reverse("accounts:account-delete"), {"email": alice.email})
    assert response.status_code == 400
    assert "still open" in response.content.decode()
    assert type(alice).objects.filter(pk=alice.pk).exists() and Bot.objects.filter(pk=bot.pk)
    assert not AuditEvent.objects.filter(action="account.delete").exists()


def test_bob_cannot_delete_alices_account(alice, bob_client):
    response = bob_client.post(reverse("accounts:account-delete"), {"email": "alice@example.com"})
    assert response.status_code == 400
    assert type(alice).objects.filter(pk=alice.pk).exists()


def test_the_data_page_needs_login_and_speaks_of_the_users_own_bots(
    alice, bob, alice_client, make_bot
):
    make_bot(alice, name="one")
    make_bot(bob, name="two")
    make_bot(bob, name="three")
    response = Client().get(reverse("accounts:data"))
    assert response.status_code == 302 and "login" in response.url
    body = alice_client.get(reverse("accounts:data")).content.decode()
    assert "your 1 bot with their settings" in body
    assert reverse("accounts:data-download") in body and reverse("accounts:account-delete") in body
