"""API tokens: shown once, stored hashed, scoped, revocable, expiring; the trade-scope gate."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services.tokens import token_hash
from exchanges.models import ExchangeAccount
from exchanges.services.credentials import exchange_account_create


@pytest.fixture
def alice_account(alice):
    return exchange_account_create(
        user=alice,
        exchange="sandbox",
        label="main",
        mode="paper",
        api_key="KEY-aaaa1111",
        secret="SECRET-bbbb2222",
    )


def _auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.mark.usefixtures("eager_celery")
def test_token_is_shown_once_and_stored_only_as_a_hash(
    alice, alice_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("accounts:token-create"), {"name": "ci", "scope": "read"}
        )
    assert response.status_code == 200
    raw = response.context["raw"]
    assert raw.startswith("prg_") and raw in response.content.decode()
    token = ApiToken.objects.get(user=alice)
    assert token.token_hash == token_hash(raw) and raw not in token.token_hash
    assert raw not in alice_client.get(reverse("accounts:tokens")).content.decode()
    assert any("API token created" in m.subject for m in mail.outbox)


def test_token_create_needs_recent_auth(alice, alice_stale_client):
    response = alice_stale_client.post(
        reverse("accounts:token-create"), {"name": "ci", "scope": "read"}
    )
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:confirm-identity"))
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "  ", "scope": "read"}, "name"),
        ({"name": "x", "scope": "admin"}, "scope"),
        ({"name": "x", "scope": "read", "expires_at": "2001-01-01T00:00"}, "expires_at"),
    ],
)
def test_token_bad_input_gets_field_error_and_creates_nothing(alice_client, data, field):
    response = alice_client.post(reverse("accounts:token-create"), data)
    assert response.status_code == 400
    assert response.context["form"].errors.get(field)
    assert not ApiToken.objects.exists()


def test_read_token_reads_and_records_last_use(alice, api_token_for, client):
    raw = api_token_for(alice, "read")
    response = client.get("/api/v1/me/", **_auth(raw))
    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk,
        "email": alice.email,
        "auth": "token",
        "scope": "read",
    }
    assert ApiToken.objects.get(user=alice).last_used_at is not None


def test_read_token_gets_403_on_trading_and_changes_nothing(
    alice, alice_account, api_token_for, client
):
    raw = api_token_for(alice, "read")
    url = f"/api/v1/exchange-accounts/{alice_account.pk}/disable/"
    response = client.post(url, {"reason": "stop"}, content_type="application/json", **_auth(raw))
    assert response.status_code == 403
    assert ExchangeAccount.objects.get(pk=alice_account.pk).status == "active"


def test_trade_token_may_trade(alice, alice_account, api_token_for, client):
    raw = api_token_for(alice, "trade")
    url = f"/api/v1/exchange-accounts/{alice_account.pk}/disable/"
    response = client.post(
        url, {"reason": "stop now"}, content_type="application/json", **_auth(raw)
    )
    assert response.status_code == 200
    assert response.json()["status"] == "disabled"
    assert ExchangeAccount.objects.get(pk=alice_account.pk).disabled_reason == "stop now"


def test_bobs_trade_token_gets_404_on_alices_account(alice_account, bob, api_token_for, client):
    raw = api_token_for(bob, "trade")
    for method, url in (
        ("get", f"/api/v1/exchange-accounts/{alice_account.pk}/"),
        ("post", f"/api/v1/exchange-accounts/{alice_account.pk}/disable/"),
    ):
        assert getattr(client, method)(url, **_auth(raw)).status_code == 404
    assert client.get("/api/v1/exchange-accounts/", **_auth(raw)).json() == []
    assert ExchangeAccount.objects.get(pk=alice_account.pk).status == "active"


def test_anonymous_gets_401_or_403(alice_account, client):
    for method, url in (
        ("get", "/api/v1/me/"),
        ("get", "/api/v1/exchange-accounts/"),
        ("get", f"/api/v1/exchange-accounts/{alice_account.pk}/"),
        ("post", f"/api/v1/exchange-accounts/{alice_account.pk}/disable/"),
    ):
        assert getattr(client, method)(url).status_code in (401, 403)
    assert ExchangeAccount.objects.get(pk=alice_account.pk).status == "active"


def test_revoked_expired_and_unknown_tokens_get_401(alice, alice_client, api_token_for, client):
    raw = api_token_for(alice, "read")
    token = ApiToken.objects.get(user=alice)
    response = alice_client.post(reverse("accounts:token-revoke", args=[token.pk]))
    assert response.status_code == 302
    assert client.get("/api/v1/me/", **_auth(raw)).status_code == 401
    expired = api_token_for(alice, "read")
    ApiToken.objects.filter(token_hash=token_hash(expired)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.get("/api/v1/me/", **_auth(expired)).status_code == 401
    assert client.get("/api/v1/me/", **_auth("prg_not-a-real-token")).status_code == 401


def test_bob_cannot_revoke_alices_token(alice, api_token_for, bob_client, client):
    raw = api_token_for(alice, "read")
    token = ApiToken.objects.get(user=alice)
    assert bob_client.post(reverse("accounts:token-revoke", args=[token.pk])).status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert client.get("/api/v1/me/", **_auth(raw)).status_code == 200


def test_token_pages_need_login(client, db):
    for name in ("accounts:tokens", "accounts:token-create"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "login" in response.url


def test_token_requests_create_no_browser_session(alice, api_token_for, client):
    from django.contrib.sessions.models import Session

    from accounts.models import UserSession

    raw = api_token_for(alice, "read")
    sessions_before = Session.objects.count()
    for _ in range(3):
        assert client.get("/api/v1/me/", **_auth(raw)).status_code == 200
    assert not UserSession.objects.filter(user=alice).exists()
    assert Session.objects.count() == sessions_before


def test_htmx_revoke_returns_the_updated_row(alice, alice_client, api_token_for):
    api_token_for(alice, "read")
    token = ApiToken.objects.get(user=alice)
    response = alice_client.post(
        reverse("accounts:token-revoke", args=[token.pk]), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200 and "Revoked" in body and "<html" not in body


def test_htmx_request_without_recent_auth_gets_an_hx_redirect(alice_stale_client):
    response = alice_stale_client.post(
        reverse("accounts:token-create"), {"name": "x", "scope": "read"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("accounts:confirm-identity"))
    assert not ApiToken.objects.exists()
