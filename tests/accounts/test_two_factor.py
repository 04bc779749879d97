"""TOTP: enrolment, the OTP step, drift, replay, backup codes, throttling, disabling, admin."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.db import connection, connections
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuthenticatorDevice, BackupCode, SecondFactorThrottle, UserSession
from accounts.services.two_factor import (
    second_factor_verify,
    totp_enrolment_confirm,
    totp_enrolment_start,
    two_factor_enabled,
)


def _login_with_password(client, email, password):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_setup_page_shows_qr_and_manual_key(alice_client):
    response = alice_client.get(reverse("accounts:two-factor-setup"))
    assert response.status_code == 200
    device = AuthenticatorDevice.objects.get(user__email="alice@example.com", confirmed=False)
    body = response.content.decode()
    assert "<svg" in body
    from base64 import b32encode

    assert b32encode(device.bin_key).decode() in body


def test_setup_with_wrong_code_gets_field_error_and_stays_off(alice, alice_client):
    alice_client.get(reverse("accounts:two-factor-setup"))
    response = alice_client.post(reverse("accounts:two-factor-setup"), {"code": "000000"})
    assert response.status_code == 400
    assert "does not match" in response.content.decode()
    assert not two_factor_enabled(alice)


@pytest.mark.usefixtures("eager_celery")
def test_setup_confirmed_by_first_code_shows_ten_hashed_backup_codes_once(
    alice, alice_client, totp_code, django_capture_on_commit_callbacks
):
    alice_client.get(reverse("accounts:two-factor-setup"))
    device = AuthenticatorDevice.objects.get(user=alice, confirmed=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("accounts:two-factor-setup"), {"code": totp_code(device)}
        )
    assert response.status_code == 200
    codes = response.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert two_factor_enabled(alice)
    stored = list(BackupCode.objects.filter(device__user=alice).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not any(code.replace("-", "") in h for code in codes for h in stored)
    assert any("Two-factor authentication enabled" in m.subject for m in mail.outbox)
    # the session that enrolled is verified; the codes are not shown again anywhere
    page = alice_client.get(reverse("accounts:security")).content.decode()
    assert codes[0] not in page


def test_password_login_with_2fa_is_held_at_the_otp_step(
    alice, alice_totp, client, password, totp_code
):
    response = _login_with_password(client, alice.email, password)
    assert response.status_code == 302
    page = client.get(reverse("exchanges:account-list"))
    assert page.status_code == 302 and page.url.startswith(reverse("accounts:otp-verify"))
    api = client.get("/api/v1/exchange-accounts/")
    assert api.status_code == 403
    response = client.post(reverse("accounts:otp-verify"), {"code": "123456"})
    assert response.status_code == 400
    key_before = client.session.session_key
    response = client.post(reverse("accounts:otp-verify"), {"code": totp_code(alice_totp)})
    assert response.status_code == 302
    assert client.session.session_key != key_before
    assert UserSession.objects.filter(session_key=client.session.session_key).exists()
    assert not UserSession.objects.filter(session_key=key_before).exists()
    assert client.get(reverse("exchanges:account-list")).status_code == 200


def test_login_rotates_the_session_key(alice, client, password):
    client.get(reverse("account_login"))
    client.session.save()
    before = client.session.session_key
    _login_with_password(client, alice.email, password)
    assert client.session.session_key != before


@pytest.mark.parametrize(
    ("steps", "accepted"), [(-1, True), (0, True), (1, True), (-2, False), (2, False)]
)
def test_codes_one_step_either_side_are_accepted_two_are_not(
    alice, alice_totp, totp_code, steps, accepted
):
    assert second_factor_verify(user=alice, code=totp_code(alice_totp, steps)).ok is accepted


def test_a_code_is_accepted_only_once(alice, alice_totp, totp_code):
    code = totp_code(alice_totp)
    assert second_factor_verify(user=alice, code=code).ok
    assert not second_factor_verify(user=alice, code=code).ok
    # and an older code from the window is not accepted after a newer one
    assert not second_factor_verify(user=alice, code=totp_code(alice_totp, -1)).ok


def test_backup_code_works_once(alice, totp_code):
    device = totp_enrolment_start(user=alice)
    codes = totp_enrolment_confirm(user=alice, device=device, code=totp_code(device))
    assert second_factor_verify(user=alice, code=codes[0]).ok
    assert not second_factor_verify(user=alice, code=codes[0]).ok
    assert second_factor_verify(user=alice, code=codes[1].upper().replace("-", " ")).ok


def test_repeated_failures_lock_even_the_right_code_out(alice, alice_totp, totp_code, settings):
    for _ in range(settings.PEREGRINE_OTP_FAILURES_BEFORE_LOCK):
        assert not second_factor_verify(user=alice, code="000000").ok
    result = second_factor_verify(user=alice, code=totp_code(alice_totp))
    assert not result.ok and result.locked_until is not None


@pytest.mark.usefixtures("eager_celery")
def test_attempts_during_the_lock_neither_count_nor_extend_it_and_the_owner_is_told(
    alice, alice_totp, totp_code, settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    allowed = settings.PEREGRINE_OTP_FAILURES_BEFORE_LOCK
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(allowed):
            locked = second_factor_verify(user=alice, code="000000", ip="203.0.113.9")
    assert locked.locked_until is not None
    assert any("locked" in message.subject for message in mail.outbox)
    assert "203.0.113.9" in mail.outbox[-1].body
    for code in ("111111", totp_code(alice_totp), "222222"):
        during = second_factor_verify(user=alice, code=code)
        assert not during.ok and during.locked_until == locked.locked_until
    assert SecondFactorThrottle.objects.get(user=alice).failure_count == allowed
    # once the lock is over, the right code works again
    SecondFactorThrottle.objects.filter(user=alice).update(
        last_failure_at=locked.locked_until - timedelta(hours=1)
    )
    assert second_factor_verify(user=alice, code=totp_code(alice_totp, steps=1)).ok


@pytest.mark.django_db(transaction=True)
def test_one_hundred_concurrent_wrong_codes_lock_after_the_allowed_failures(
    django_user_model, settings
):
    user = django_user_model.objects.create_user(email="carol@example.com", password="x" * 12)
    TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    start = threading.Barrier(20)

    def attempt(index):
        try:
            if index < 20:
                start.wait()
            return second_factor_verify(user=user, code=f"{index:06d}").ok
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(100)))
    assert not any(results)
    # serialized by the throttle's row lock: exactly the allowed failures are counted, then the
    # lock holds and the other attempts are refused without extending it
    throttle = SecondFactorThrottle.objects.get(user=user)
    assert throttle.failure_count == settings.PEREGRINE_OTP_FAILURES_BEFORE_LOCK
    from compliance.models import AuditEvent

    refused = AuditEvent.objects.filter(action="two_factor.refused_while_locked").count()
    assert refused == 100 - settings.PEREGRINE_OTP_FAILURES_BEFORE_LOCK
    connection.close()


def test_disable_needs_recent_auth(alice, alice_totp, alice_stale_client):
    from django_otp import DEVICE_ID_SESSION_KEY

    session = alice_stale_client.session
    session[DEVICE_ID_SESSION_KEY] = alice_totp.persistent_id
    session.save()
    response = alice_stale_client.post(reverse("accounts:two-factor-disable"), {"code": "1"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:confirm-identity"))
    assert two_factor_enabled(alice)


def test_disable_with_wrong_code_changes_nothing(alice, alice_otp_client):
    response = alice_otp_client.post(reverse("accounts:two-factor-disable"), {"code": "000000"})
    assert response.status_code == 400
    assert two_factor_enabled(alice)


@pytest.mark.usefixtures("eager_celery")
def test_disable_with_valid_code_turns_off_and_emails(
    alice, alice_totp, alice_otp_client, totp_code, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_otp_client.post(
            reverse("accounts:two-factor-disable"), {"code": totp_code(alice_totp)}
        )
    assert response.status_code == 302
    assert not two_factor_enabled(alice)
    assert any("disabled" in m.subject for m in mail.outbox)


def test_operator_setting_requires_2fa_for_everyone(alice_client, settings):
    settings.PEREGRINE_REQUIRE_2FA = True
    response = alice_client.get(reverse("exchanges:account-list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:two-factor-setup"))
    assert alice_client.get(reverse("accounts:two-factor-setup")).status_code == 200


def test_bob_cannot_verify_with_alices_code(alice_totp, bob, totp_code):
    assert not second_factor_verify(user=bob, code=totp_code(alice_totp)).ok


# --- the admin -----------------------------------------------------------------------------


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser(email="op@example.com", password="x" * 12)


def test_admin_refuses_a_staff_session_without_otp(operator, client):
    client.force_login(operator)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:index") not in response.url or "login" in response.url
    assert client.get(reverse("admin:compliance_auditevent_changelist")).status_code == 302


def test_admin_refuses_staff_with_a_device_before_the_otp_step(operator, client):
    TOTPDevice.objects.create(user=operator, name="app", confirmed=True)
    client.force_login(operator)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:otp-verify"))


def test_admin_admits_staff_verified_by_otp(operator, client, totp_code):
    device = TOTPDevice.objects.create(user=operator, name="app", confirmed=True)
    client.force_login(operator)
    client.post(reverse("accounts:otp-verify"), {"code": totp_code(device)})
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:compliance_auditevent_changelist")).status_code == 200


def test_anonymous_admin_goes_to_the_normal_login(client, db):
    response = client.get(reverse("admin:index"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))


def test_reloading_setup_keeps_the_key_already_shown(alice, alice_client):
    alice_client.get(reverse("accounts:two-factor-setup"))
    first = AuthenticatorDevice.objects.get(user=alice, confirmed=False).bin_key
    alice_client.get(reverse("accounts:two-factor-setup"))
    assert AuthenticatorDevice.objects.get(user=alice, confirmed=False).bin_key == first


def test_regenerating_backup_codes_needs_recent_auth_and_replaces_the_old(alice, alice_otp_client):
    from accounts.security import AUTH_AT_SESSION_KEY

    first = alice_otp_client.post(reverse("accounts:backup-codes-regenerate")).context["codes"]
    second = alice_otp_client.post(reverse("accounts:backup-codes-regenerate")).context["codes"]
    assert set(first).isdisjoint(second)
    assert not second_factor_verify(user=alice, code=first[0]).ok
    assert second_factor_verify(user=alice, code=second[0]).ok
    session = alice_otp_client.session
    session[AUTH_AT_SESSION_KEY] = 0
    session.save()
    response = alice_otp_client.post(reverse("accounts:backup-codes-regenerate"))
    assert response.status_code == 302 and "confirm-identity" in response.url
