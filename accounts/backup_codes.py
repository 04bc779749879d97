"""Single-use backup codes: ten shown once, stored as salted PBKDF2 hashes, each used once."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.utils import timezone

CODE_COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes


def _hash(code: str, salt: str) -> str:
    iterations = getattr(settings, "PEREGRINE_BACKUP_CODE_ITERATIONS", 200_000)
    digest = hashlib.pbkdf2_hmac("sha256", code.encode(), salt.encode(), iterations)
    return digest.hex()


def normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def backup_codes_generate(*, device) -> list[str]:
    """Replace the device's codes with ten fresh ones; return them for showing once."""
    from accounts.models import BackupCode

    device.salt = secrets.token_hex(16)
    device.save(update_fields=["salt"])
    device.codes.all().delete()
    codes = ["".join(secrets.choice(_ALPHABET) for _ in range(10)) for _ in range(CODE_COUNT)]
    BackupCode.objects.bulk_create(
        BackupCode(device=device, code_hash=_hash(code, device.salt)) for code in codes
    )
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def backup_code_consume(*, device, code: str) -> bool:
    """Use up a matching unused code; False if none matches. Callers hold the account lock."""
    code = normalize(code)
    if len(code) != 10 or not device.salt:
        return False
    wanted = _hash(code, device.salt)
    for backup in device.codes.filter(used_at__isnull=True).select_for_update():
        if hmac.compare_digest(backup.code_hash, wanted):
            backup.used_at = timezone.now()
            backup.save(update_fields=["used_at"])
            return True
    return False
