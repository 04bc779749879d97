"""Authenticator seeds are sealed at rest: a database dump is not enough to make a code."""

from __future__ import annotations

import base64
import shutil
import subprocess
from binascii import unhexlify

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import totp_seeds
from accounts.models import AuthenticatorDevice, TOTPSecret
from accounts.services.two_factor import second_factor_verify, totp_enrolment_start
from exchanges import crypto


def _code(seed: bytes, device) -> str:
    return f"{totp(seed, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_enrolment_keeps_the_seed_sealed_and_the_code_still_verifies(alice):
    device = totp_enrolment_start(user=alice)
    seed = device.bin_key  # the enrolment page shows it once, from memory
    assert TOTPDevice.objects.get(pk=device.pk).key == totp_seeds.SEALED
    sealed = TOTPSecret.objects.get(device_id=device.pk).sealed
    assert sealed.startswith(crypto.FORMAT_PREFIX + ".")
    assert seed.hex() not in sealed
    assert AuthenticatorDevice.objects.get(pk=device.pk).bin_key == seed
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    assert second_factor_verify(user=alice, code=_code(seed, device)).ok


def test_the_plain_model_read_from_the_database_cannot_make_codes(alice):
    device = totp_enrolment_start(user=alice)
    plain = TOTPDevice.objects.get(pk=device.pk)
    with pytest.raises(ValueError):
        plain.bin_key  # noqa: B018  (the column holds a marker, not hex)


def test_a_sealed_seed_copied_to_another_users_device_does_not_open(alice, bob):
    mine = totp_enrolment_start(user=alice)
    theirs = totp_enrolment_start(user=bob)
    TOTPSecret.objects.filter(device_id=theirs.pk).update(
        sealed=TOTPSecret.objects.get(device_id=mine.pk).sealed
    )
    with pytest.raises(crypto.DecryptionError):
        AuthenticatorDevice.objects.get(pk=theirs.pk).bin_key  # noqa: B018
    assert not second_factor_verify(user=bob, code=_code(mine.bin_key, mine)).ok


@pytest.mark.django_db(transaction=True)
def test_a_database_dump_holds_no_seed(alice, settings):
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    device = totp_enrolment_start(user=alice)
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    seed = device.bin_key
    db = settings.DATABASES["default"]
    dump = subprocess.run(
        ["pg_dump", "-h", db["HOST"], "-p", str(db["PORT"] or 5432), "-U", db["USER"],
         "--data-only", db["NAME"]],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "otp_totp_totpdevice" in dump and "accounts_totpsecret" in dump
    for form in (seed.hex(), base64.b32encode(seed).decode(), base64.b64encode(seed).decode()):
        assert form.lower() not in dump.lower()


def test_the_migration_seals_devices_stored_in_the_clear_and_its_reverse_restores_them(alice):
    seed = "3132333435363738393031323334353637383930"
    device = TOTPDevice.objects.create(user=alice, name="app", confirmed=True)
    TOTPSecret.objects.filter(device_id=device.pk).delete()
    TOTPDevice.objects.filter(pk=device.pk).update(key=seed)  # as stored before sealing

    assert totp_seeds.seal_existing(TOTPDevice, TOTPSecret) == 1
    assert TOTPDevice.objects.get(pk=device.pk).key == totp_seeds.SEALED
    assert AuthenticatorDevice.objects.get(pk=device.pk).bin_key == unhexlify(seed)
    assert totp_seeds.seal_existing(TOTPDevice, TOTPSecret) == 0  # idempotent

    assert totp_seeds.unseal_all(TOTPDevice, TOTPSecret) == 1
    assert TOTPDevice.objects.get(pk=device.pk).key == seed
    assert not TOTPSecret.objects.exists()


def test_rotating_the_master_key_rewraps_seeds(alice, settings):
    device = totp_enrolment_start(user=alice)
    seed = device.bin_key
    old = list(settings.PEREGRINE_MASTER_KEYS)
    new_key = base64.b64encode(b"\x07" * 32).decode()
    settings.PEREGRINE_MASTER_KEYS = [*old, new_key]
    call_command("rotate_master_key", stdout=open("/dev/null", "w"))  # noqa: SIM115
    newest = crypto.key_id_for(b"\x07" * 32)
    assert totp_seeds.totp_sealed_key_ids_in_use() == {newest}
    settings.PEREGRINE_MASTER_KEYS = [new_key]  # the old key is gone: the seed still opens
    assert AuthenticatorDevice.objects.get(pk=device.pk).bin_key == seed


@pytest.fixture
def operator_client(django_user_model, client):
    operator = django_user_model.objects.create_superuser(email="op@example.com", password="x" * 12)
    device = totp_enrolment_start(user=operator)
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    client.force_login(operator)
    client.post(reverse("accounts:otp-verify"), {"code": _code(device.bin_key, device)})
    return client


def test_operators_see_devices_in_the_admin_without_their_seed(operator_client, alice):
    admin_client = operator_client
    device = totp_enrolment_start(user=alice)
    seed = device.bin_key
    listing = admin_client.get(reverse("admin:accounts_authenticatordevice_changelist"))
    assert listing.status_code == 200
    body = listing.content.decode()
    assert alice.email in body and seed.hex() not in body
    assert admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").status_code == 404
