"""The anchors' key is AUDIT_ANCHOR_KEY, apart from SECRET_KEY; each anchor names its key's id,
so anchors signed before a rotation still verify under the previous keys, and a forged one
does not."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from compliance.audit_chain import anchor_mac, development_anchor_key, key_id
from compliance.selectors import audit_chain_verify
from compliance.services import anchor_key, audit_anchor_create, audit_record

OLD_KEY = "old-anchor-key-" + "a" * 40
NEW_KEY = "new-anchor-key-" + "b" * 40


def _verify(*args) -> str:
    out = StringIO()
    call_command("audit_verify", *args, stdout=out)
    return out.getvalue()


def _anchor_after_event(alice, action):
    audit_record(actor=alice, action=action)
    return audit_anchor_create()


def test_the_development_key_is_not_derived_from_the_secret_key(settings):
    assert settings.AUDIT_ANCHOR_KEY == development_anchor_key()
    assert settings.SECRET_KEY not in settings.AUDIT_ANCHOR_KEY
    assert anchor_key().secret == development_anchor_key().encode()


def test_each_anchor_records_its_key_and_verify_names_it(alice, settings):
    settings.AUDIT_ANCHOR_KEY = NEW_KEY
    anchor = _anchor_after_event(alice, "test.one")
    assert anchor.key_id == key_id(NEW_KEY.encode()) and len(anchor.key_id) == 16
    assert anchor.mac == anchor_mac(
        key=NEW_KEY.encode(),
        seq=anchor.seq,
        head_hash=anchor.head_hash,
        created_at=anchor.created_at,
    )
    out = _verify("-v", "2")
    assert f"key {anchor.key_id} (current): 1 anchor(s)" in out
    assert f"anchor {anchor.pk} at #{anchor.seq}" in out


def test_a_rotated_key_still_verifies_the_anchors_it_signed(alice, settings):
    settings.AUDIT_ANCHOR_KEY = OLD_KEY
    old = _anchor_after_event(alice, "before.rotation")
    settings.AUDIT_ANCHOR_KEY, settings.AUDIT_ANCHOR_PREVIOUS_KEYS = NEW_KEY, [OLD_KEY]
    new = _anchor_after_event(alice, "after.rotation")
    assert old.key_id != new.key_id
    report = audit_chain_verify()
    assert report.ok, report.breaks
    assert report.anchor_keys[old.pk].label == "previous #1"
    assert report.anchor_keys[new.pk].label == "current"
    out = _verify()
    assert f"key {old.key_id} (previous #1): 1 anchor(s)" in out
    assert f"key {new.key_id} (current): 1 anchor(s)" in out

    settings.AUDIT_ANCHOR_PREVIOUS_KEYS = []  # the old key dropped too early
    report = audit_chain_verify()
    assert report.breaks.seq == old.seq and "not configured" in report.breaks.reason
    with pytest.raises(CommandError, match=f"key {old.key_id}, which is not configured"):
        _verify()


def test_an_anchor_forged_with_another_key_under_the_current_key_id_fails(alice, settings):
    settings.AUDIT_ANCHOR_KEY = NEW_KEY
    real = _anchor_after_event(alice, "test.real")
    # someone with database access (and SECRET_KEY, even) signs their own head for #seq
    forged_mac = anchor_mac(
        key=b"forger-" * 8, seq=real.seq, head_hash=real.head_hash, created_at=real.created_at
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO compliance_auditanchor (created_at, seq, head_hash, mac, key_id) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            [real.created_at, real.seq, real.head_hash, forged_mac, real.key_id],
        )
        forged_id = cursor.fetchone()[0]
    report = audit_chain_verify()
    assert not report.ok
    assert report.breaks.reason == (
        f"anchor {forged_id}'s signature does not verify under its key {real.key_id}"
    )
    with pytest.raises(CommandError, match="signature does not verify"):
        _verify()


def _insert_anchor(real, *, mac, key_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO compliance_auditanchor (created_at, seq, head_hash, mac, key_id) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            [real.created_at, real.seq, real.head_hash, mac, key_id],
        )
        return cursor.fetchone()[0]


def _legacy_mac(real, settings):
    import hashlib

    legacy = hashlib.sha256(b"peregrine.audit.anchor:" + settings.SECRET_KEY.encode()).digest()
    return anchor_mac(
        key=legacy, seq=real.seq, head_hash=real.head_hash, created_at=real.created_at
    )


def test_a_mac_from_the_secret_key_does_not_pass_under_the_current_key_id(alice, settings):
    real = _anchor_after_event(alice, "test.real")
    _insert_anchor(real, mac=_legacy_mac(real, settings), key_id=real.key_id)
    assert "does not verify" in audit_chain_verify().breaks.reason


def test_anchors_from_before_the_anchor_key_verify_under_the_secret_key_derivation(alice, settings):
    """Anchors with no key id were signed before AUDIT_ANCHOR_KEY (migration 0005)."""
    real = _anchor_after_event(alice, "test.real")
    legacy_id = _insert_anchor(real, mac=_legacy_mac(real, settings), key_id="")
    report = audit_chain_verify()
    assert report.ok and report.anchor_keys[legacy_id].label == "legacy (from SECRET_KEY)"
    _insert_anchor(real, mac="0" * 64, key_id="")
    assert "does not verify under its key legacy" in audit_chain_verify().breaks.reason


def test_production_refuses_a_missing_or_short_anchor_key():
    import os
    import subprocess
    import sys

    from tests.conftest import BASE_DIR
    from tests.platform.test_settings import PRODUCTION_ENV

    def check(**changes):
        env = {**os.environ, **PRODUCTION_ENV, **changes}
        env = {k: v for k, v in env.items() if v is not None}
        return subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    missing = check(AUDIT_ANCHOR_KEY=None, AUDIT_ANCHOR_KEY_FILE=None)
    assert missing.returncode != 0 and "AUDIT_ANCHOR_KEY: required in production" in missing.stderr
    short = check(AUDIT_ANCHOR_KEY="too-short")
    assert short.returncode != 0 and "at least 32 characters" in short.stderr
    assert check(AUDIT_ANCHOR_KEY=NEW_KEY).returncode == 0
