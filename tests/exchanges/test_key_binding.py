"""One exchange API key belongs to one user: the same key added by a second user (new account
or replaced keys) is refused without saying whose it is, found by a keyed hash of the key,
never by decrypting anyone's credentials."""

import threading

import pytest
from django.core.exceptions import ValidationError

from exchanges.models import ExchangeAccount
from exchanges.services import credentials
from exchanges.services.credentials import (
    KEY_TAKEN,
    api_key_fingerprint,
    exchange_account_create,
    exchange_account_replace_keys,
)

KEY, SECRET = "SHARED-APIKEY-7f3e9a", "shared-secret-1c2d"


def _add(user, label, api_key=KEY, exchange="sandbox"):
    return exchange_account_create(
        user=user, exchange=exchange, label=label, mode="paper", api_key=api_key, secret=SECRET
    )


@pytest.fixture
def no_decrypting(monkeypatch):
    """Opening credentials is not needed to compare keys: fail if anything tries."""

    def refuse(**kwargs):
        raise AssertionError("credentials were decrypted to compare keys")

    monkeypatch.setattr(credentials, "exchange_account_credentials", refuse)


def test_a_key_of_one_user_is_refused_for_another_without_naming_the_owner(
    alice, bob, no_decrypting
):
    _add(alice, "alice-main")
    with pytest.raises(ValidationError) as refused:
        _add(bob, "bob-main")
    assert refused.value.message_dict == {"api_key": [KEY_TAKEN]}
    assert "alice" not in KEY_TAKEN.lower()
    assert not ExchangeAccount.objects.filter(user=bob).exists()
    # the owner may connect it twice (say, two labels); another key is fine for bob
    _add(alice, "alice-second")
    assert _add(bob, "bob-main", api_key="BOB-OWN-KEY-0001").user == bob


def test_replacing_keys_with_another_users_key_is_refused_and_changes_nothing(
    alice, bob, no_decrypting
):
    _add(alice, "alice-main")
    account = _add(bob, "bob-main", api_key="BOB-OWN-KEY-0001")
    before = ExchangeAccount.objects.filter(pk=account.pk).values().get()
    with pytest.raises(ValidationError) as refused:
        exchange_account_replace_keys(account=account, api_key=KEY, secret=SECRET)
    assert "api_key" in refused.value.message_dict
    assert ExchangeAccount.objects.filter(pk=account.pk).values().get() == before


def test_the_fingerprint_is_a_keyed_hash_not_the_key(alice, settings):
    account = _add(alice, "alice-main")
    assert account.api_key_fingerprint == api_key_fingerprint("sandbox", KEY)
    assert KEY not in account.api_key_fingerprint and len(account.api_key_fingerprint) == 64
    assert api_key_fingerprint("binance", KEY) != account.api_key_fingerprint
    settings.PEREGRINE_KEY_FINGERPRINT_SECRET = "another secret"
    assert api_key_fingerprint("sandbox", KEY) != account.api_key_fingerprint


def test_the_same_key_on_another_exchange_is_not_the_same_key(alice, bob):
    _add(alice, "alice-main", exchange="sandbox")
    assert _add(bob, "bob-main", exchange="binance").user == bob


@pytest.mark.django_db(transaction=True)
def test_two_users_adding_one_key_at_once_get_it_once(alice, bob):
    barrier = threading.Barrier(2)
    outcomes = []

    def add(user, label):
        from django.db import connection

        barrier.wait()
        try:
            _add(user, label)
            outcomes.append("added")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(u, f"{u.pk}-main")) for u in (alice, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["added", "refused"]
    assert (
        ExchangeAccount.objects.filter(
            api_key_fingerprint=api_key_fingerprint("sandbox", KEY)
        ).count()
        == 1
    )


@pytest.mark.django_db
def test_accounts_stored_before_fingerprints_get_theirs_and_the_rule_covers_them(alice, bob):
    from exchanges.services.credentials import exchange_account_fingerprints_backfill

    old = exchange_account_create(
        user=alice, exchange="sandbox", label="old", mode="paper", api_key="OLD-KEY-1", secret="s"
    )
    broken = exchange_account_create(
        user=alice,
        exchange="sandbox",
        label="broken",
        mode="paper",
        api_key="OLD-KEY-2",
        secret="s",
    )
    ExchangeAccount.objects.filter(pk__in=[old.pk, broken.pk]).update(api_key_fingerprint="")
    # a ciphertext bound to another row cannot be opened here: counted, left alone
    ExchangeAccount.objects.filter(pk=broken.pk).update(api_key_ciphertext=old.api_key_ciphertext)
    counts = exchange_account_fingerprints_backfill()
    assert counts == {"filled": 1, "unreadable": 1, "shared": 0}
    old.refresh_from_db()
    assert old.api_key_fingerprint == api_key_fingerprint("sandbox", "OLD-KEY-1")
    with pytest.raises(ValidationError):
        exchange_account_create(
            user=bob,
            exchange="sandbox",
            label="mine",
            mode="paper",
            api_key="OLD-KEY-1",
            secret="x",
        )
    assert exchange_account_fingerprints_backfill() == {"filled": 0, "unreadable": 1, "shared": 0}
