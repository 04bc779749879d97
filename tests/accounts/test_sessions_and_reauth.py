"""Sessions page: see and end other sessions; confirming identity for sensitive actions."""

from django.test import Client
from django.urls import reverse

from accounts.models import UserSession
from compliance.models import AuditEvent


def _second_login(user, password):
    other = Client(HTTP_USER_AGENT="OtherBrowser/2.0")
    other.post(reverse("account_login"), {"login": user.email, "password": password})
    return other


def test_sessions_page_lists_only_the_users_sessions(alice, alice_client, bob_client, password):
    _second_login(alice, password)
    response = alice_client.get(reverse("accounts:sessions"))
    assert response.status_code == 200
    sessions = list(response.context["sessions"])
    assert {s.user_id for s in sessions} == {alice.pk} and len(sessions) == 2
    assert "OtherBrowser/2.0" in response.content.decode()


def test_ending_another_session_signs_it_out(alice, alice_client, password):
    other = _second_login(alice, password)
    row = UserSession.objects.get(session_key=other.session.session_key)
    response = alice_client.post(
        reverse("accounts:session-end", args=[row.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert other.get(reverse("accounts:security")).status_code == 302
    assert alice_client.get(reverse("accounts:security")).status_code == 200
    assert AuditEvent.objects.filter(action="session.end", actor=alice).exists()


def test_end_all_other_sessions_keeps_the_current_one(alice, alice_client, password):
    others = [_second_login(alice, password) for _ in range(2)]
    alice_client.post(reverse("accounts:sessions-end-others"))
    assert all(o.get(reverse("accounts:security")).status_code == 302 for o in others)
    assert alice_client.get(reverse("accounts:security")).status_code == 200


def test_bob_cannot_end_alices_session(alice, bob_client, password):
    other = _second_login(alice, password)
    row = UserSession.objects.get(session_key=other.session.session_key)
    response = bob_client.post(reverse("accounts:session-end", args=[row.pk]))
    assert response.status_code == 404
    assert other.get(reverse("accounts:security")).status_code == 200


def test_anonymous_is_sent_to_login_from_account_pages(client, db):
    for name in (
        "accounts:security",
        "accounts:sessions",
        "accounts:two-factor-setup",
        "accounts:confirm-identity",
        "accounts:otp-verify",
    ):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "login" in response.url, name


def test_confirm_identity_with_password_unlocks_sensitive_pages(alice_stale_client, password):
    target = reverse("accounts:token-create")
    assert alice_stale_client.get(target).status_code == 302
    response = alice_stale_client.post(
        f"{reverse('accounts:confirm-identity')}?next={target}",
        {"password": password, "next": target},
    )
    assert response.status_code == 302 and response.url == target
    assert alice_stale_client.get(target).status_code == 200


def test_confirm_identity_with_wrong_password_gets_field_error(alice_stale_client):
    response = alice_stale_client.post(reverse("accounts:confirm-identity"), {"password": "not it"})
    assert response.status_code == 400
    assert response.context["form"].errors.get("password")
    assert alice_stale_client.get(reverse("accounts:token-create")).status_code == 302


def test_confirm_identity_with_otp_code(alice, alice_totp, alice_stale_client, totp_code):
    from django_otp import DEVICE_ID_SESSION_KEY

    session = alice_stale_client.session
    session[DEVICE_ID_SESSION_KEY] = alice_totp.persistent_id
    session.save()
    response = alice_stale_client.post(
        reverse("accounts:confirm-identity"), {"code": totp_code(alice_totp)}
    )
    assert response.status_code == 302
    assert alice_stale_client.get(reverse("accounts:token-create")).status_code == 200


def test_confirm_identity_ignores_an_offsite_next(alice_stale_client, password):
    response = alice_stale_client.post(
        reverse("accounts:confirm-identity"),
        {"password": password, "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and "evil" not in response.url


def test_confirm_identity_password_guesses_are_rate_limited(alice_stale_client, password):
    for _ in range(10):
        alice_stale_client.post(reverse("accounts:confirm-identity"), {"password": "guess"})
    response = alice_stale_client.post(reverse("accounts:confirm-identity"), {"password": password})
    assert response.status_code == 400
    assert "Too many attempts" in response.content.decode()
    assert alice_stale_client.get(reverse("accounts:token-create")).status_code == 302


def test_second_factor_satisfied_for_consumers(alice, alice_totp, alice_otp_client, bob, settings):
    from accounts.security import second_factor_satisfied

    assert second_factor_satisfied(alice, alice_otp_client.session)
    assert not second_factor_satisfied(alice, {})
    assert second_factor_satisfied(bob, {})
    settings.PEREGRINE_REQUIRE_2FA = True
    assert not second_factor_satisfied(bob, {})
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=bob, name="app", confirmed=True)
    assert not second_factor_satisfied(bob, {DEVICE_ID_SESSION_KEY: alice_totp.persistent_id})
