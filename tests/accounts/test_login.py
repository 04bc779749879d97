"""Sign-up with verification, login, rate limits, idle expiry, logout, password and email."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from accounts.models import UserSession
from compliance.models import AuditEvent

User = get_user_model()


def _signup(client, email, password1, password2=None):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": password1, "password2": password2 or password1},
    )


def test_signup_sends_a_verification_email_and_login_waits_for_it(client, db, password):
    response = _signup(client, "dave@example.com", password)
    assert response.status_code == 302
    user = User.objects.get(email="dave@example.com")
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mail.outbox) == 1 and "dave@example.com" in mail.outbox[0].to
    response = client.post(
        reverse("account_login"), {"login": "dave@example.com", "password": password}
    )
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="signup", actor=user).exists()


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("not-an-email", "correct horse battery staple 42", "email"),
        ("erin@example.com", "password", "password1"),
        ("erin@example.com", "12345678901", "password1"),
    ],
)
def test_signup_bad_input_gets_field_error_and_creates_nothing(client, db, email, password, field):
    response = _signup(client, email, password)
    assert response.status_code == 200
    assert response.context["form"].errors.get(field)
    assert not User.objects.exists()


def test_login_page_and_signup_page_render_in_the_base_layout(client, db):
    for name in ("account_login", "account_signup", "account_reset_password"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert "pico.min.css" in response.content.decode()


def test_login_creates_a_tracked_session_and_an_audit_event(alice, client, password):
    client.post(
        reverse("account_login"),
        {"login": alice.email, "password": password},
        HTTP_USER_AGENT="TestBrowser/1.0",
    )
    assert client.session["_auth_user_id"] == str(alice.pk)
    row = UserSession.objects.get(session_key=client.session.session_key)
    assert row.user == alice and row.user_agent == "TestBrowser/1.0"
    assert AuditEvent.objects.filter(action="login", actor=alice).exists()


def test_login_failures_are_rate_limited_per_account(alice, client, password):
    for _ in range(5):
        client.post(reverse("account_login"), {"login": alice.email, "password": "wrong-pass"})
    response = client.post(reverse("account_login"), {"login": alice.email, "password": password})
    assert "_auth_user_id" not in client.session
    assert "Too many failed login attempts" in response.content.decode()
    assert AuditEvent.objects.filter(action="login.failed").count() >= 5


def test_login_failures_are_rate_limited_per_ip(alice, client, password, settings):
    """Spraying from one address: over its limit, an account never signed in from there is
    refused (accounts/login_throttle.py; known accounts: tests/accounts/test_login_throttle.py)."""
    settings.PEREGRINE_LOGIN_LIMIT_IP = "10/900"
    for index in range(10):
        client.post(
            reverse("account_login"),
            {"login": f"nobody{index}@example.com", "password": "wrong-pass"},
        )
    response = client.post(reverse("account_login"), {"login": alice.email, "password": password})
    assert "_auth_user_id" not in client.session
    assert "Too many failed login attempts" in response.content.decode()


def test_session_expiry_moves_with_every_request(alice_client, settings):
    from datetime import timedelta

    from django.utils import timezone

    alice_client.get(reverse("accounts:security"))
    remaining = alice_client.session.get_expiry_date() - timezone.now()
    assert timedelta(seconds=settings.SESSION_COOKIE_AGE - 60) < remaining
    assert remaining <= timedelta(seconds=settings.SESSION_COOKIE_AGE)


def test_logout_ends_the_session_and_forgets_it(alice, client, password):
    client.post(reverse("account_login"), {"login": alice.email, "password": password})
    key = client.session.session_key
    client.post(reverse("account_logout"))
    assert not UserSession.objects.filter(session_key=key).exists()
    assert client.get(reverse("accounts:security")).status_code == 302


def test_password_change_needs_recent_auth(alice_stale_client):
    response = alice_stale_client.get(reverse("account_change_password"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:confirm-identity"))


@pytest.mark.usefixtures("eager_celery")
def test_password_change_with_recent_auth_emails_a_notice(alice, alice_client, password):
    response = alice_client.post(
        reverse("account_change_password"),
        {
            "oldpassword": password,
            "password1": "a brand new passphrase 77",
            "password2": "a brand new passphrase 77",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a brand new passphrase 77")
    assert any("assword" in m.subject for m in mail.outbox)
    assert AuditEvent.objects.filter(action="password.change", actor=alice).exists()


def test_password_change_with_weak_password_changes_nothing(alice, alice_client, password):
    response = alice_client.post(
        reverse("account_change_password"),
        {"oldpassword": password, "password1": "short", "password2": "short"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors.get("password1")
    alice.refresh_from_db()
    assert alice.check_password(password)


def test_email_change_page_needs_recent_auth(alice_stale_client):
    response = alice_stale_client.get(reverse("account_email"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:confirm-identity"))


def test_email_change_sends_verification_to_the_new_address(alice, alice_client):
    response = alice_client.post(
        reverse("account_email"), {"action_add": "", "email": "alice.new@example.com"}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"  # unchanged until the new address is verified
    assert any("alice.new@example.com" in m.to for m in mail.outbox)


def test_email_change_with_malformed_email_changes_nothing(alice, alice_client):
    response = alice_client.post(
        reverse("account_email"), {"action_add": "", "email": "not an email"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors.get("email")
    assert list(EmailAddress.objects.filter(user=alice).values_list("email", flat=True)) == [
        "alice@example.com"
    ]


def test_password_reset_by_email_link(alice, client):
    import re

    client.post(reverse("account_reset_password"), {"email": alice.email})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    response = client.get(link.group(1), follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else link.group(1)
    new = "another long passphrase 99"
    response = client.post(form_url, {"password1": new, "password2": new})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(new)
    assert AuditEvent.objects.filter(action="password.reset", actor=alice).exists()


def test_signup_can_be_closed_by_the_operator(client, db, settings, password):
    settings.PEREGRINE_SIGNUP_OPEN = False
    response = _signup(client, "frank@example.com", password)
    assert not User.objects.filter(email="frank@example.com").exists()
    assert response.status_code == 200


@pytest.mark.usefixtures("eager_celery")
def test_email_change_applies_after_confirmation_and_notifies_the_old_address(alice, alice_client):
    import re

    alice_client.post(
        reverse("account_email"), {"action_add": "", "email": "alice.new@example.com"}
    )
    body = next(m.body for m in mail.outbox if "alice.new@example.com" in m.to)
    path = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+)", body).group(1)
    mail.outbox.clear()
    response = alice_client.post(path)
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.email == "alice.new@example.com"
    assert any("alice@example.com" in m.to for m in mail.outbox)
    assert AuditEvent.objects.filter(action="email.change", actor=alice).exists()
