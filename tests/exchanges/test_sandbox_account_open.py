""" "Create a funded sandbox account": one POST gives a new user a funded sandbox exchange user
and the paper exchange account holding its key, against a real sandbox server."""

import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from exchanges.models import ExchangeAccount
from exchanges.sandbox.models import SandboxDeposit, SandboxUser
from exchanges.sandbox.services import START_FUNDS
from exchanges.sandbox.store import DatabaseSync
from exchanges.services.connection import exchange_account_test_connection
from exchanges.services.credentials import exchange_account_credentials
from portfolio.models import ExchangeBalance
from tests.conftest import free_port

URL = "/exchanges/accounts/sandbox/"


@pytest.fixture
def running(sandbox_server, sandbox_url, settings, transactional_db):
    """The sandbox server, kept in step with the database as the sandbox_exchange command
    keeps it (keys and deposits read every 0.1 s here, every second there)."""
    settings.PEREGRINE_SANDBOX_URL = sandbox_url
    settings.PEREGRINE_SANDBOX_VENUES = ["sandbox", "sandbox-b"]
    stop = threading.Event()

    def follow():
        sync = DatabaseSync(sandbox_server)
        try:
            while not stop.wait(0.1):
                keys, deposits = sync._read()
                sandbox_server.call(sync.apply, keys, deposits)
        finally:
            connection.close()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    yield sandbox_server
    stop.set()
    thread.join(10)


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


@pytest.mark.django_db(transaction=True)
def test_one_post_gives_a_funded_account_whose_key_trades_on_the_sandbox(
    alice, alice_client, running
):
    response = alice_client.post(URL, {"venue": "sandbox"}, follow=True)
    assert response.status_code == 200
    text = _messages(response)
    assert "Sandbox account 'Sandbox (sandbox)' created and funded with 10,000 USDT" in text
    assert "The sandbox exchange reports these balances" in text
    account = ExchangeAccount.objects.get(user=alice)
    assert (account.exchange, account.mode, account.status) == ("sandbox", "paper", "active")
    # stored sealed like any key: the ciphertext is not the key
    key = exchange_account_credentials(account=account)
    assert key.api_key not in account.api_key_ciphertext and account.api_key_last4 in key.api_key
    deposits = SandboxDeposit.objects.filter(user__api_keys__api_key=key.api_key)
    assert {d.asset: d.amount for d in deposits} == START_FUNDS
    assert {d.venue for d in deposits} == {"sandbox"}
    # fetched through the account's own key and kept as its balances (the dashboard shows them)
    stored = ExchangeBalance.objects.filter(account=account)
    assert {b.asset: b.total for b in stored} == START_FUNDS
    report = exchange_account_test_connection(account=account)
    assert report.ok, report.error
    assert report.warnings == []  # a trade-only, IP-restricted key: nothing to warn about
    assert report.balances == {a: Decimal(v) for a, v in START_FUNDS.items()}
    # the page lists it and now offers the next venue
    html = alice_client.get("/exchanges/accounts/").content.decode()
    assert "Sandbox (sandbox)" in html and 'value="sandbox-b"' in html


@pytest.mark.django_db(transaction=True)
def test_a_second_click_for_the_same_venue_says_it_exists_and_creates_nothing(
    alice, alice_client, running
):
    alice_client.post(URL, {"venue": "sandbox"})
    users, deposits = SandboxUser.objects.count(), SandboxDeposit.objects.count()
    response = alice_client.post(URL, {"venue": "sandbox"}, follow=True)
    assert "You already have a sandbox account on sandbox: 'Sandbox (sandbox)'" in _messages(
        response
    )
    assert ExchangeAccount.objects.filter(user=alice).count() == 1
    assert (SandboxUser.objects.count(), SandboxDeposit.objects.count()) == (users, deposits)
    # without a venue the next free one is taken; with every venue taken it is refused
    alice_client.post(URL)
    assert set(ExchangeAccount.objects.filter(user=alice).values_list("exchange", flat=True)) == {
        "sandbox",
        "sandbox-b",
    }
    response = alice_client.post(URL, follow=True)
    assert "already have a sandbox account" in _messages(response)
    assert ExchangeAccount.objects.filter(user=alice).count() == 2
    assert 'name="venue"' not in alice_client.get("/exchanges/accounts/").content.decode()


@pytest.mark.django_db
def test_a_sandbox_that_is_not_running_is_refused_clearly(alice, alice_client, settings):
    settings.PEREGRINE_SANDBOX_URL = f"http://127.0.0.1:{free_port()}"
    response = alice_client.post(URL, {"venue": "sandbox"}, follow=True)
    text = _messages(response)
    assert "The sandbox exchange is not running" in text and "make run" in text
    assert not ExchangeAccount.objects.filter(user=alice).exists()
    assert not SandboxUser.objects.exists() and not SandboxDeposit.objects.exists()


@pytest.mark.django_db
def test_no_sandbox_configured_or_an_unknown_venue_is_refused(alice, alice_client, settings):
    response = alice_client.post(URL, {"venue": "binance"}, follow=True)
    assert "'binance' is not a sandbox venue" in _messages(response)
    settings.PEREGRINE_SANDBOX_VENUES = []
    response = alice_client.post(URL, follow=True)
    assert "not configured" in _messages(response)
    assert "Create a funded sandbox account" not in response.content.decode()
    assert not ExchangeAccount.objects.exists() and not SandboxUser.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_anonymous_and_get_are_refused_and_bob_opens_only_his_own(
    alice, bob, alice_client, bob_client, running
):
    response = Client().post(URL, {"venue": "sandbox"})
    assert response.status_code == 302 and "login" in response["Location"]
    assert alice_client.get(URL).status_code == 405
    assert not ExchangeAccount.objects.exists()
    alice_client.post(URL, {"venue": "sandbox"})
    alice_account = ExchangeAccount.objects.get(user=alice)
    bob_client.post(URL, {"venue": "sandbox"})
    bob_account = ExchangeAccount.objects.get(user=bob)
    assert bob_account.pk != alice_account.pk
    bob_page = bob_client.get("/exchanges/accounts/").content.decode()
    assert str(bob_account.pk) in bob_page and str(alice_account.pk) not in bob_page
    assert bob_client.post(f"/exchanges/accounts/{alice_account.pk}/test/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_command_opens_the_same_account_for_a_user(alice, running, capsys):
    call_command("sandbox_user", "--for", alice.email, "--venue", "sandbox-b")
    assert "exchange account 'Sandbox (sandbox-b)' for alice@example.com" in capsys.readouterr().out
    assert ExchangeAccount.objects.get(user=alice).exchange == "sandbox-b"
    with pytest.raises(CommandError, match="already have"):
        call_command("sandbox_user", "--for", alice.email, "--venue", "sandbox-b")
    with pytest.raises(CommandError, match="no Peregrine user"):
        call_command("sandbox_user", "--for", "nobody@example.com")
    call_command("sandbox_user", "plain", "--fund", "sandbox")
    out = capsys.readouterr().out
    assert "api key:" in out and "funded:  10,000 USDT, 0.2 BTC, 3 ETH on sandbox" in out
    with pytest.raises(CommandError, match="not a sandbox venue"):
        call_command("sandbox_user", "other", "--fund", "binance")
    assert not SandboxUser.objects.filter(name="other").exists()
