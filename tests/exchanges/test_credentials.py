"""Exchange credentials: sealed per row, opened only by the credentials service, rotatable."""

import base64
import os

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection

from compliance.models import AuditEvent
from exchanges import crypto
from exchanges.models import ExchangeAccount
from exchanges.services.credentials import (
    exchange_account_create,
    exchange_account_credentials,
    exchange_account_disable,
    exchange_account_replace_keys,
)

CANARY_KEY = "CANARYKEY-7f3a9c2e5b1d"
CANARY_SECRET = "CANARYSECRET-91b2c3d4e5f6a7b8"


def _new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _account(user, label="main", secret=CANARY_SECRET, api_key=CANARY_KEY, **extra):
    return exchange_account_create(
        user=user,
        exchange="sandbox",
        label=label,
        mode="paper",
        api_key=api_key,
        secret=secret,
        **extra,
    )


def test_create_then_credentials_returns_the_same_values(alice):
    account = _account(alice, passphrase="pass-phrase-1")
    creds = exchange_account_credentials(account=ExchangeAccount.objects.get(pk=account.pk))
    assert (creds.api_key, creds.secret, creds.passphrase) == (
        CANARY_KEY,
        CANARY_SECRET,
        "pass-phrase-1",
    )
    assert account.api_key_last4 == CANARY_KEY[-4:]
    assert CANARY_SECRET not in repr(creds) and CANARY_SECRET not in str(creds)


def test_each_secret_gets_its_own_data_key_and_nonce(alice):
    one, two = _account(alice, "one"), _account(alice, "two")
    assert one.secret_ciphertext != two.secret_ciphertext
    assert one.secret_ciphertext.split(".")[2] != two.secret_ciphertext.split(".")[2]


def test_ciphertext_swapped_into_another_users_row_fails_to_decrypt(alice, bob):
    mine = _account(alice)
    theirs = _account(bob, secret="bob-secret-value-123", api_key="BOBKEY-1234567")
    ExchangeAccount.objects.filter(pk=theirs.pk).update(
        secret_ciphertext=mine.secret_ciphertext, api_key_ciphertext=mine.api_key_ciphertext
    )
    with pytest.raises(crypto.DecryptionError):
        exchange_account_credentials(account=ExchangeAccount.objects.get(pk=theirs.pk))


def test_ciphertext_swapped_between_two_rows_of_one_user_fails(alice):
    first, second = _account(alice, "first"), _account(alice, "second", secret="other-secret-1")
    ExchangeAccount.objects.filter(pk=second.pk).update(secret_ciphertext=first.secret_ciphertext)
    with pytest.raises(crypto.DecryptionError):
        exchange_account_credentials(account=ExchangeAccount.objects.get(pk=second.pk))


def test_old_ciphertext_restored_after_key_replacement_fails(alice):
    account = _account(alice)
    old = account.secret_ciphertext
    account = exchange_account_replace_keys(
        account=account, api_key="NEWKEY-abcdefgh", secret="new-secret-value"
    )
    assert account.key_version == 2
    ExchangeAccount.objects.filter(pk=account.pk).update(secret_ciphertext=old)
    with pytest.raises(crypto.DecryptionError):
        exchange_account_credentials(account=ExchangeAccount.objects.get(pk=account.pk))


def test_tampered_ciphertext_fails(alice):
    account = _account(alice)
    head, body = account.secret_ciphertext.rsplit(".", 1)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    ExchangeAccount.objects.filter(pk=account.pk).update(secret_ciphertext=f"{head}.{flipped}")
    with pytest.raises(crypto.DecryptionError):
        exchange_account_credentials(account=ExchangeAccount.objects.get(pk=account.pk))


def test_rotation_rewraps_every_secret_and_old_key_can_be_dropped(alice, bob, settings):
    old_key, new_key = settings.PEREGRINE_MASTER_KEYS[-1], _new_key()
    accounts = [
        _account(alice, "a"),
        _account(alice, "b", passphrase="phrase-b-123"),
        _account(bob, "c", secret="bob-secret-xyz", api_key="BOB-APIKEY-0c0c"),
    ]
    settings.PEREGRINE_MASTER_KEYS = [old_key, new_key]
    call_command("rotate_master_key", stdout=open(os.devnull, "w"))
    new_id = crypto.Keyring([new_key]).newest.key_id
    settings.PEREGRINE_MASTER_KEYS = [new_key]  # the old key is gone
    for account in accounts:
        stored = ExchangeAccount.objects.get(pk=account.pk)
        assert crypto.sealed_key_id(stored.secret_ciphertext) == new_id
        creds = exchange_account_credentials(account=stored)
        assert creds.secret in (CANARY_SECRET, "bob-secret-xyz")
    assert (
        exchange_account_credentials(
            account=ExchangeAccount.objects.get(pk=accounts[1].pk)
        ).passphrase
        == "phrase-b-123"
    )


def test_without_rotation_a_dropped_old_key_cannot_decrypt(alice, settings):
    account = _account(alice)
    settings.PEREGRINE_MASTER_KEYS = [_new_key()]
    with pytest.raises(crypto.DecryptionError):
        exchange_account_credentials(account=ExchangeAccount.objects.get(pk=account.pk))


def test_rotate_drop_old_rewrites_the_keys_file(alice, settings, tmp_path, monkeypatch):
    old_key, new_key = settings.PEREGRINE_MASTER_KEYS[-1], _new_key()
    account = _account(alice)
    keys_file = tmp_path / "master-keys"
    keys_file.write_text(f"{old_key}\n{new_key}\n")
    monkeypatch.setenv("PEREGRINE_MASTER_KEYS_FILE", str(keys_file))
    settings.PEREGRINE_MASTER_KEYS = [old_key, new_key]
    call_command("rotate_master_key", "--drop-old", stdout=open(os.devnull, "w"))
    assert keys_file.read_text().split() == [new_key]
    settings.PEREGRINE_MASTER_KEYS = [new_key]
    assert (
        exchange_account_credentials(account=ExchangeAccount.objects.get(pk=account.pk)).secret
        == CANARY_SECRET
    )


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("exchange", {"exchange": "no-such-exchange"}),
        ("secret", {"secret": "   "}),
        ("api_key", {"api_key": ""}),
        ("label", {"label": ""}),
        ("mode", {"mode": "yolo"}),
        ("passphrase", {"exchange": "okx"}),
    ],
)
def test_bad_input_gets_a_field_error_and_stores_nothing(alice, field, kwargs):
    values = {
        "user": alice,
        "exchange": "sandbox",
        "label": "x",
        "mode": "paper",
        "api_key": "KEY-12345678",
        "secret": "secret-123",
        **kwargs,
    }
    with pytest.raises(ValidationError) as excinfo:
        exchange_account_create(**values)
    assert field in excinfo.value.message_dict
    assert not ExchangeAccount.objects.exists()
    assert not AuditEvent.objects.filter(action="exchange_account.create").exists()


def test_duplicate_label_is_a_field_error(alice):
    _account(alice)
    with pytest.raises(ValidationError) as excinfo:
        _account(alice, secret="another-secret")
    assert "label" in excinfo.value.message_dict
    assert ExchangeAccount.objects.count() == 1


@pytest.mark.usefixtures("eager_celery")
def test_disable_records_audit_and_emails_the_owner(alice, django_capture_on_commit_callbacks):
    account = _account(alice)
    with django_capture_on_commit_callbacks(execute=True):
        account = exchange_account_disable(account=account, reason="Invalid API key (-2015)")
    assert account.status == "disabled" and not account.is_active
    assert account.disabled_reason == "Invalid API key (-2015)"
    event = AuditEvent.objects.get(action="exchange_account.disable")
    assert event.target_id == str(account.pk)
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert "Invalid API key" in mail.outbox[0].body


def test_replacing_keys_reactivates_a_disabled_account(alice):
    account = exchange_account_disable(account=_account(alice), reason="bad key")
    account = exchange_account_replace_keys(
        account=account, api_key="NEWKEY-abcdefgh", secret="new-secret-value"
    )
    assert account.is_active and account.disabled_reason == ""
    assert exchange_account_credentials(account=account).secret == "new-secret-value"


def _database_text_containing(needle: str) -> list[str]:
    """Every (table.column) in the public schema whose text contains needle."""
    hits = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'jsonb', 'json')"
        )
        for table, column in cursor.fetchall():
            cursor.execute(
                f'SELECT 1 FROM "{table}" WHERE "{column}"::text LIKE %s LIMIT 1',
                [f"%{needle}%"],
            )
            if cursor.fetchone():
                hits.append(f"{table}.{column}")
    return hits


@pytest.mark.usefixtures("eager_celery")
def test_canary_secret_is_stored_in_no_column_in_the_clear(
    alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        account = _account(alice, passphrase="CANARYPASS-55aa66bb")
        exchange_account_disable(account=account, reason="testing")
    for needle in (CANARY_SECRET, CANARY_KEY, "CANARYPASS-55aa66bb"):
        assert _database_text_containing(needle) == []
    assert all(CANARY_SECRET not in m.body and CANARY_KEY not in m.body for m in mail.outbox)
    # the probe itself works: the label is found
    assert "exchanges_exchangeaccount.label" in _database_text_containing("main")


def test_decrypted_secret_is_redacted_from_log_lines(alice, caplog):
    import logging

    from config.logging import RedactSecretsFilter

    account = _account(alice)
    creds = exchange_account_credentials(account=account)
    logger = logging.getLogger("peregrine.test")
    record = logger.makeRecord(
        "peregrine.test",
        logging.ERROR,
        __file__,
        1,
        "order failed for %s with %s",
        (creds.api_key, creds.secret),
        None,
    )
    RedactSecretsFilter().filter(record)
    assert CANARY_SECRET not in record.getMessage()
    assert CANARY_KEY not in record.getMessage()
