"""Exchange account pages and API: alice owns, bob and anonymous get nothing, secrets never leak."""

import logging

import pytest
from django.core import mail
from django.urls import reverse

from exchanges.models import ExchangeAccount
from exchanges.services.credentials import exchange_account_create, exchange_account_credentials

CANARY = "CANARY-SECRET-e1f2a3b4c5d6"
CANARY_KEY = "CANARY-APIKEY-0a9b8c7d"


@pytest.fixture
def alice_account(alice):
    return exchange_account_create(
        user=alice,
        exchange="sandbox",
        label="alice-main-acct",
        mode="paper",
        api_key=CANARY_KEY,
        secret=CANARY,
    )


def _snapshot(account):
    return ExchangeAccount.objects.filter(pk=account.pk).values().get()


def _object_pages(account):
    return [
        reverse("exchanges:account-update", args=[account.pk]),
        reverse("exchanges:account-keys", args=[account.pk]),
        reverse("exchanges:account-delete", args=[account.pk]),
    ]


def test_alice_sees_her_account_pages(alice_client, alice_account):
    listing = alice_client.get(reverse("exchanges:account-list"))
    assert listing.status_code == 200 and "alice-main-acct" in listing.content.decode()
    assert alice_account.api_key_last4 in listing.content.decode()
    for url in _object_pages(alice_account):
        assert alice_client.get(url).status_code == 200, url


def test_bob_gets_404_on_every_page_and_alices_account_is_unchanged(alice_account, bob_client):
    before = _snapshot(alice_account)
    assert (
        "alice-main-acct" not in bob_client.get(reverse("exchanges:account-list")).content.decode()
    )
    for url in _object_pages(alice_account):
        assert bob_client.get(url).status_code == 404, url
        assert (
            bob_client.post(
                url, {"label": "pwned", "mode": "live", "api_key": "x" * 10, "secret": "y" * 10}
            ).status_code
            == 404
        ), url
    assert _snapshot(alice_account) == before


def test_anonymous_is_sent_to_login_and_nothing_changes(alice_account, client):
    before = _snapshot(alice_account)
    for url in [
        reverse("exchanges:account-list"),
        reverse("exchanges:account-create"),
        *_object_pages(alice_account),
    ]:
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 302 and "login" in response.url, url
    assert _snapshot(alice_account) == before


def test_add_needs_recent_auth(alice_stale_client):
    response = alice_stale_client.get(reverse("exchanges:account-create"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:confirm-identity"))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"exchange": "nonesuch"}, "exchange"),
        ({"secret": ""}, "secret"),
        ({"api_key": ""}, "api_key"),
        ({"label": ""}, "label"),
    ],
)
def test_add_bad_input_gets_a_field_error_and_stores_nothing(alice_client, data, field):
    form = {
        "exchange": "sandbox",
        "label": "alice-main-acct",
        "mode": "paper",
        "api_key": "KEY-12345678",
        "secret": "secret-123",
        **data,
    }
    response = alice_client.post(reverse("exchanges:account-create"), form)
    assert response.status_code == 400
    assert response.context["form"].errors.get(field)
    assert field in response.content.decode() or "field-error" in response.content.decode()
    assert not ExchangeAccount.objects.exists()
    assert "KEY-12345678" not in response.content.decode()  # typed secrets are not echoed back
    assert "secret-123" not in response.content.decode()


@pytest.mark.usefixtures("eager_celery")
def test_add_through_the_page_stores_and_notifies(
    alice, alice_client, django_capture_on_commit_callbacks
):
    form = {
        "exchange": "sandbox",
        "label": "alice-main-acct",
        "mode": "paper",
        "api_key": CANARY_KEY,
        "secret": CANARY,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("exchanges:account-create"), form)
    assert response.status_code == 302
    account = ExchangeAccount.objects.get(user=alice)
    assert exchange_account_credentials(account=account).secret == CANARY
    assert any("Exchange key added" in m.subject for m in mail.outbox)


def test_switching_to_live_needs_recent_auth(alice_account, alice_stale_client):
    url = reverse("exchanges:account-update", args=[alice_account.pk])
    response = alice_stale_client.post(url, {"label": "alice-main-acct", "mode": "live"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:confirm-identity"))
    assert ExchangeAccount.objects.get(pk=alice_account.pk).mode == "paper"
    # renaming alone does not need it
    response = alice_stale_client.post(url, {"label": "renamed", "mode": "paper"})
    assert response.status_code == 302
    assert ExchangeAccount.objects.get(pk=alice_account.pk).label == "renamed"


@pytest.mark.usefixtures("eager_celery")
def test_switching_to_live_with_recent_auth_emails_a_notice(
    alice_account, alice_client, django_capture_on_commit_callbacks
):
    url = reverse("exchanges:account-update", args=[alice_account.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(url, {"label": "alice-main-acct", "mode": "live"})
    assert response.status_code == 302
    assert ExchangeAccount.objects.get(pk=alice_account.pk).mode == "live"
    assert any("Live trading enabled" in m.subject for m in mail.outbox)


def test_replace_keys_and_delete_need_recent_auth(alice_account, alice_stale_client):
    before = _snapshot(alice_account)
    for url in _object_pages(alice_account)[1:]:
        response = alice_stale_client.post(url, {"api_key": "NEWKEY-12345678", "secret": "s2"})
        assert response.status_code == 302 and "confirm-identity" in response.url
    assert _snapshot(alice_account) == before


def test_replace_keys_with_empty_secret_changes_nothing(alice_account, alice_client):
    before = _snapshot(alice_account)
    response = alice_client.post(
        reverse("exchanges:account-keys", args=[alice_account.pk]),
        {"api_key": "NEWKEY-12345678", "secret": ""},
    )
    assert response.status_code == 400
    assert response.context["form"].errors.get("secret")
    assert _snapshot(alice_account) == before


def test_replace_keys_and_delete(alice_account, alice_client):
    response = alice_client.post(
        reverse("exchanges:account-keys", args=[alice_account.pk]),
        {"api_key": "NEWKEY-12345678", "secret": "new-secret-1"},
    )
    assert response.status_code == 302
    account = ExchangeAccount.objects.get(pk=alice_account.pk)
    assert account.api_key_last4 == "5678" and account.key_version == 2
    response = alice_client.post(reverse("exchanges:account-delete", args=[alice_account.pk]))
    assert response.status_code == 302
    assert not ExchangeAccount.objects.filter(pk=alice_account.pk).exists()


@pytest.mark.usefixtures("eager_celery")
def test_canary_secret_is_in_no_page_no_api_response_and_no_log_line(
    alice, alice_client, api_token_for, client, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(
            reverse("exchanges:account-create"),
            {
                "exchange": "sandbox",
                "label": "alice-main-acct",
                "mode": "paper",
                "api_key": CANARY_KEY,
                "secret": CANARY,
                "passphrase": "CANARY-PP-99",
            },
        )
    account = ExchangeAccount.objects.get(user=alice)
    exchange_account_credentials(account=account)
    bodies = [
        alice_client.get(url).content.decode()
        for url in [
            reverse("exchanges:account-list"),
            *_object_pages(account),
            reverse("compliance:security-log"),
            reverse("accounts:security"),
        ]
    ]
    raw = api_token_for(alice, "trade")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    bodies += [
        client.get(url, **auth).content.decode()
        for url in ["/api/v1/exchange-accounts/", f"/api/v1/exchange-accounts/{account.pk}/"]
    ]
    bodies.append(
        client.post(f"/api/v1/exchange-accounts/{account.pk}/disable/", **auth).content.decode()
    )
    bodies += [m.body for m in mail.outbox]
    assert account.api_key_last4 in bodies[0]  # the probe sees the page
    for needle in (CANARY, CANARY_KEY, "CANARY-PP-99"):
        assert not [b for b in bodies if needle in b]
        assert needle not in caplog.text


def test_operator_admin_shows_accounts_without_secrets(
    alice_account, django_user_model, client, totp_code
):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    operator = django_user_model.objects.create_superuser(email="op@example.com", password="x" * 12)
    device = TOTPDevice.objects.create(user=operator, name="app", confirmed=True)
    client.force_login(operator)
    client.post(reverse("accounts:otp-verify"), {"code": totp_code(device)})
    pages = [
        reverse("admin:exchanges_exchangeaccount_changelist"),
        reverse("admin:exchanges_exchangeaccount_change", args=[alice_account.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "alice-main-acct" in body
        assert CANARY not in body and CANARY_KEY not in body
        assert alice_account.secret_ciphertext[:40] not in body
    response = client.post(pages[0], {"action": "disable", "_selected_action": [alice_account.pk]})
    assert response.status_code == 302
    assert ExchangeAccount.objects.get(pk=alice_account.pk).status == "disabled"


@pytest.mark.usefixtures("eager_celery")
def test_replacing_and_deleting_keys_email_the_owner(
    alice_account, alice_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(
            reverse("exchanges:account-keys", args=[alice_account.pk]),
            {"api_key": "NEWKEY-12345678", "secret": "new-secret-1"},
        )
        alice_client.post(reverse("exchanges:account-delete", args=[alice_account.pk]))
    subjects = [m.subject for m in mail.outbox]
    assert any("Exchange key replaced" in s for s in subjects)
    assert any("Exchange key deleted" in s for s in subjects)
    assert all(m.to == ["alice@example.com"] for m in mail.outbox)
