"""Second factor: TOTP enrolment and verification, backup codes, throttling, disabling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.backup_codes import backup_codes_generate, normalize
from accounts.models import AuthenticatorDevice, BackupCodeDevice, SecondFactorThrottle
from accounts.notifications import security_notice_send
from compliance.services import audit_record

_MAX_LOCK_SECONDS = 15 * 60


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    device: object | None = None
    locked_until: datetime | None = None


def two_factor_enabled(user) -> bool:
    """True if the user has a confirmed authenticator app."""
    return AuthenticatorDevice.objects.filter(user_id=user.pk, confirmed=True).exists()


def _locked_until(throttle: SecondFactorThrottle) -> datetime | None:
    allowed = settings.PEREGRINE_OTP_FAILURES_BEFORE_LOCK
    if throttle.failure_count < allowed or throttle.last_failure_at is None:
        return None
    seconds = min(30 * 2 ** (throttle.failure_count - allowed), _MAX_LOCK_SECONDS)
    return throttle.last_failure_at + timedelta(seconds=seconds)


def _match(user, code: str, device: AuthenticatorDevice | None):
    digits = code.replace(" ", "")
    if device is not None:  # enrolment: only the device being confirmed counts
        return device if digits.isdigit() and device.verify_token(digits) else None
    if digits.isdigit() and len(digits) == 6:
        for totp in AuthenticatorDevice.objects.filter(user_id=user.pk, confirmed=True):
            if totp.verify_token(digits):  # one step either side; last_t rejects a replay
                return totp
        return None
    for backup in BackupCodeDevice.objects.filter(user_id=user.pk, confirmed=True):
        if backup.verify_token(normalize(code)):
            return backup
    return None


def second_factor_verify(
    *, user, code: str, ip: str | None = None, device: AuthenticatorDevice | None = None
) -> VerifyResult:
    """Check a TOTP or backup code under a per-account lock.

    Every wrong code outside a lock is counted; once PEREGRINE_OTP_FAILURES_BEFORE_LOCK are,
    the account is locked (30 s, doubling with each further failure, at most 15 minutes) and
    its owner is told. During the lock every code is refused, the right one too, but an attempt
    neither counts nor extends the lock: whoever knows the password cannot keep the owner out
    longer by hammering the form.
    """
    with transaction.atomic():
        SecondFactorThrottle.objects.bulk_create(
            [SecondFactorThrottle(user_id=user.pk)], ignore_conflicts=True
        )
        throttle = SecondFactorThrottle.objects.select_for_update().get(user_id=user.pk)
        now = timezone.now()
        locked_until = _locked_until(throttle)
        if locked_until is not None and now < locked_until:
            audit_record(actor=user, action="two_factor.refused_while_locked", ip=ip)
            return VerifyResult(ok=False, locked_until=locked_until)
        matched = _match(user, (code or "").strip(), device)
        if matched is not None:
            throttle.failure_count, throttle.last_failure_at = 0, None
            throttle.save()
            return VerifyResult(ok=True, device=matched)
        throttle.failure_count += 1
        throttle.last_failure_at = now
        throttle.save()
        audit_record(
            actor=user,
            action="two_factor.failure",
            ip=ip,
            after={"failures": throttle.failure_count},
        )
        locked_until = _locked_until(throttle)
        if locked_until is not None:
            seconds = round((locked_until - now).total_seconds())
            security_notice_send(
                user=user,
                subject="Two-factor codes locked after wrong attempts",
                body=(
                    f"{throttle.failure_count} wrong two-factor codes were entered for your "
                    f"account (last from {ip or 'an unknown address'}); codes are refused for "
                    f"{seconds} seconds. If this was not you, someone knows your password: "
                    "change it."
                ),
            )
        return VerifyResult(ok=False, locked_until=locked_until)


def totp_enrolment_start(*, user) -> AuthenticatorDevice:
    """A fresh unconfirmed authenticator device (replacing any earlier unconfirmed one)."""
    AuthenticatorDevice.objects.filter(user_id=user.pk, confirmed=False).delete()
    return AuthenticatorDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_enrolment_confirm(
    *, user, device: AuthenticatorDevice, code: str, ip: str | None = None
) -> list[str] | None:
    """Confirm the device with its first code; return the ten backup codes, or None if wrong."""
    result = second_factor_verify(user=user, code=code, ip=ip, device=device)
    if not result.ok:
        return None
    with transaction.atomic():
        others = AuthenticatorDevice.objects.filter(user_id=user.pk, confirmed=True)
        others.exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _backup_codes_replace(user)
        audit_record(actor=user, action="two_factor.enable", target=device, ip=ip)
        security_notice_send(
            user=user,
            subject="Two-factor authentication enabled",
            body="Two-factor authentication was turned on for your account.",
        )
    return codes


def _backup_codes_replace(user) -> list[str]:
    backup, _ = BackupCodeDevice.objects.get_or_create(
        user=user, defaults={"name": "Backup codes", "confirmed": True}
    )
    return backup_codes_generate(device=backup)


@transaction.atomic
def backup_codes_regenerate(*, user, ip: str | None = None) -> list[str]:
    """Replace all backup codes with ten new ones (shown once)."""
    codes = _backup_codes_replace(user)
    audit_record(actor=user, action="two_factor.backup_codes_regenerate", ip=ip)
    security_notice_send(
        user=user,
        subject="New backup codes",
        body="New two-factor backup codes were generated; the old ones no longer work.",
    )
    return codes


def backup_codes_remaining(*, user) -> int:
    return (
        BackupCodeDevice.objects.filter(user_id=user.pk, codes__used_at__isnull=True)
        .values("codes")
        .count()
    )


def two_factor_disable(*, user, code: str, ip: str | None = None) -> bool:
    """Turn 2FA off if the code is valid; False (and nothing changed) otherwise."""
    if not second_factor_verify(user=user, code=code, ip=ip).ok:
        return False
    with transaction.atomic():
        AuthenticatorDevice.objects.filter(user_id=user.pk).delete()
        BackupCodeDevice.objects.filter(user_id=user.pk).delete()
        audit_record(actor=user, action="two_factor.disable", ip=ip)
        security_notice_send(
            user=user,
            subject="Two-factor authentication disabled",
            body="Two-factor authentication was turned off for your account.",
        )
    return True
