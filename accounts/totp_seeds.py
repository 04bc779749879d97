"""Authenticator seeds never rest in the database in the clear.

Whatever saves a django-otp `TOTPDevice` (enrolment, the admin, a shell, a fixture), the seed in
its `key` is swapped for the marker `SEALED` before the row is written (pre_save) and stored
sealed in `TOTPSecret` once the row has its id (post_save), bound to the device and its user,
under the same master keys as exchange credentials (`manage.py rotate_master_key` re-wraps them
too). The instance that was saved keeps its seed in memory, so the caller can still show it
(the enrolment page's QR code). Devices read back from the database hold only the marker;
`AuthenticatorDevice.bin_key` opens the sealed seed when a code is checked.
"""

from __future__ import annotations

from binascii import unhexlify

from exchanges import crypto

SEALED = "sealed"  # the key column's value once the seed is sealed; not hex on purpose
_IN_MEMORY = "_peregrine_plain_seed"
_OPENED = "_peregrine_opened_seed"


def _aad(*, device_id, user_id) -> bytes:
    return crypto.associated_data(
        table="accounts_totpsecret", row_id=device_id, owner_id=user_id, key_version=1
    )


def _keyring() -> crypto.Keyring:
    from exchanges.services.credentials import keyring

    return keyring()


def seed_bytes(device) -> bytes:
    """The device's seed: the one in memory if it was just made, else opened from its seal."""
    if device.key != SEALED:
        return unhexlify(device.key.encode())
    opened = device.__dict__.get(_OPENED)
    if opened is None:
        from accounts.models import TOTPSecret

        row = TOTPSecret.objects.filter(device_id=device.pk).first()
        if row is None:
            raise crypto.DecryptionError(f"authenticator device {device.pk} has no sealed seed")
        opened = crypto.open_sealed(
            row.sealed, aad=_aad(device_id=device.pk, user_id=device.user_id), keyring=_keyring()
        )
        device.__dict__[_OPENED] = opened
    return unhexlify(opened.encode())


def before_save(device) -> None:
    """pre_save: take the seed out of the row about to be written."""
    if device.key != SEALED:
        device.__dict__[_IN_MEMORY] = device.key
        device.key = SEALED


def after_save(device) -> None:
    """post_save: seal the seed taken out (now that the row has its id); keep it in memory."""
    from accounts.models import TOTPSecret

    seed = device.__dict__.pop(_IN_MEMORY, None)
    if seed is None:
        return
    sealed = crypto.seal(
        seed, aad=_aad(device_id=device.pk, user_id=device.user_id), keyring=_keyring()
    )
    TOTPSecret.objects.update_or_create(device_id=device.pk, defaults={"sealed": sealed})
    device.key = seed
    device.__dict__[_OPENED] = seed


def seal_existing(device_model, secret_model) -> int:
    """Seal every device row still holding its seed in the clear (the data migration)."""
    count = 0
    for device in device_model.objects.exclude(key=SEALED):
        sealed = crypto.seal(
            device.key, aad=_aad(device_id=device.pk, user_id=device.user_id), keyring=_keyring()
        )
        secret_model.objects.update_or_create(device_id=device.pk, defaults={"sealed": sealed})
        device_model.objects.filter(pk=device.pk).update(key=SEALED)
        count += 1
    return count


def unseal_all(device_model, secret_model) -> int:
    """Put every sealed seed back in its device row (the migration's reverse)."""
    count = 0
    for row in secret_model.objects.select_related("device"):
        device = row.device
        aad = _aad(device_id=device.pk, user_id=device.user_id)
        seed = crypto.open_sealed(row.sealed, aad=aad, keyring=_keyring())
        device_model.objects.filter(pk=device.pk).update(key=seed)
        row.delete()
        count += 1
    return count


def totp_seed_rewrap_all() -> int:
    """Re-wrap every sealed seed's data key under the newest master key; the number done."""
    from django.db import transaction

    from accounts.models import TOTPSecret

    ring, count = _keyring(), 0
    with transaction.atomic():
        for row in TOTPSecret.objects.select_for_update().select_related("device"):
            aad = _aad(device_id=row.device_id, user_id=row.device.user_id)
            row.sealed = crypto.rewrap(row.sealed, aad=aad, keyring=ring)
            row.save(update_fields=["sealed"])
            count += 1
    return count


def totp_sealed_key_ids_in_use() -> set[str]:
    from accounts.models import TOTPSecret

    sealed = TOTPSecret.objects.values_list("sealed", flat=True)
    return {crypto.sealed_key_id(value) for value in sealed}
