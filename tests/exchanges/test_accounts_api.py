"""Exchange accounts over the API, as on the pages: add, change, re-key, test and delete, with
the page's re-authentication carried in the body (password, and a code with 2FA)."""

from decimal import Decimal

import pytest
from django.test import Client

from exchanges.models import ExchangeAccount
from exchanges.sandbox.testing import open_account


@pytest.fixture
def api(alice, api_token_for):
    def make(scope="trade"):
        return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice, scope)}")

    return make


@pytest.fixture
def sandbox_key(sandbox_server, sandbox_url, settings):
    settings.PEREGRINE_SANDBOX_URL = sandbox_url

    def make(**kwargs):
        return open_account(sandbox_server, sandbox_url, {"USDT": "500"}, **kwargs)

    return make


def _create(client, key, **extra):
    body = {
        "exchange": "sandbox",
        "label": "api-added",
        "mode": "paper",
        "api_key": key.api_key,
        "secret": key.secret,
        "password": extra.pop("password", "correct horse battery staple"),
        **extra,
    }
    return client.post("/api/v1/exchange-accounts/", body, content_type="application/json")


@pytest.mark.django_db
def test_add_rekey_test_rename_and_delete(alice, password, api, sandbox_key):
    client = api()
    key = sandbox_key(enable_withdrawals=True)
    made = _create(client, key, password=password)
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["api_key_last4"] == key.api_key[-4:] and "secret" not in body
    assert any("Withdrawals are enabled" in w for w in body["key_warnings"])
    account = ExchangeAccount.objects.get(pk=body["id"])

    tested = client.post(f"/api/v1/exchange-accounts/{account.pk}/test/")
    assert tested.status_code == 200 and tested.json()["ok"] is True
    assert {k: Decimal(v) for k, v in tested.json()["balances"].items()} == {"USDT": Decimal(500)}

    second = sandbox_key()
    rekeyed = client.post(
        f"/api/v1/exchange-accounts/{account.pk}/keys/",
        {"api_key": second.api_key, "secret": second.secret, "password": password},
        content_type="application/json",
    )
    assert rekeyed.status_code == 200, rekeyed.content
    assert rekeyed.json()["api_key_last4"] == second.api_key[-4:]
    assert not any("Withdrawals" in w for w in rekeyed.json()["key_warnings"])

    renamed = client.patch(
        f"/api/v1/exchange-accounts/{account.pk}/",
        {"label": "renamed"},
        content_type="application/json",
    )
    assert renamed.status_code == 200 and renamed.json()["label"] == "renamed"
    live = client.patch(
        f"/api/v1/exchange-accounts/{account.pk}/",
        {"mode": "live"},
        content_type="application/json",
    )
    assert live.status_code == 400 and "password" in live.json()["error"]["fields"]
    account.refresh_from_db()
    assert account.mode == "paper"

    gone = client.delete(
        f"/api/v1/exchange-accounts/{account.pk}/",
        {"password": password},
        content_type="application/json",
    )
    assert gone.status_code == 204
    assert not ExchangeAccount.objects.filter(pk=account.pk).exists()


@pytest.mark.django_db
def test_wrong_password_read_scope_and_bad_input_change_nothing(alice, password, api, sandbox_key):
    key = sandbox_key()
    wrong = _create(api(), key, password="not it")
    assert wrong.status_code == 400 and "password" in wrong.json()["error"]["fields"]
    read = _create(api("read"), key, password=password)
    assert read.status_code == 403
    unknown = _create(api(), key, password=password, exchange="nosuchexchange")
    assert unknown.status_code == 400 and "exchange" in unknown.json()["error"]["fields"]
    assert not ExchangeAccount.objects.exists()


@pytest.mark.django_db
def test_bob_cannot_touch_alices_account(alice, bob, password, api, api_token_for, sandbox_key):
    made = _create(api(), sandbox_key(), password=password).json()
    bob_client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(bob, 'trade')}")
    url = f"/api/v1/exchange-accounts/{made['id']}/"
    assert bob_client.patch(url, {"label": "x"}, content_type="application/json").status_code == 404
    assert bob_client.post(url + "test/").status_code == 404
    assert (
        bob_client.delete(url, {"password": password}, content_type="application/json").status_code
        == 404
    )
    assert ExchangeAccount.objects.get(pk=made["id"]).label == "api-added"
