"""The envelope encryption module on its own: binding, tampering, keys, re-wrapping."""

import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from exchanges import crypto


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


AAD = crypto.associated_data(table="t", row_id="r1", owner_id=1, key_version=1)


def test_seal_then_open_round_trips_and_hides_the_plaintext():
    ring = crypto.Keyring([_key()])
    sealed = crypto.seal("s3cret-value", aad=AAD, keyring=ring)
    assert "s3cret-value" not in sealed and sealed.startswith("pgv1.")
    assert crypto.open_sealed(sealed, aad=AAD, keyring=ring) == "s3cret-value"


@pytest.mark.parametrize(
    "change",
    [
        {"table": "other"},
        {"row_id": "r2"},
        {"owner_id": 2},
        {"key_version": 2},
    ],
)
def test_any_change_of_binding_fails(change):
    ring = crypto.Keyring([_key()])
    sealed = crypto.seal("s3cret-value", aad=AAD, keyring=ring)
    binding = {"table": "t", "row_id": "r1", "owner_id": 1, "key_version": 1, **change}
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(sealed, aad=crypto.associated_data(**binding), keyring=ring)


def test_tampered_wrapped_key_and_unknown_master_key_fail():
    ring = crypto.Keyring([_key()])
    prefix, key_id, wrapped, body = crypto.seal("v", aad=AAD, keyring=ring).split(".")
    flipped = wrapped[:-2] + ("A" if wrapped[-2] != "A" else "B") + wrapped[-1]
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(f"{prefix}.{key_id}.{flipped}.{body}", aad=AAD, keyring=ring)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(
            f"{prefix}.{key_id}.{wrapped}.{body}", aad=AAD, keyring=crypto.Keyring([_key()])
        )
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed("not sealed", aad=AAD, keyring=ring)


def test_rewrap_moves_to_the_newest_key_without_touching_the_secret():
    old, new = _key(), _key()
    sealed = crypto.seal("v-123456", aad=AAD, keyring=crypto.Keyring([old]))
    both = crypto.Keyring([old, new])
    rewrapped = crypto.rewrap(sealed, aad=AAD, keyring=both)
    assert crypto.sealed_key_id(rewrapped) == both.newest.key_id != crypto.sealed_key_id(sealed)
    assert rewrapped.split(".")[3] == sealed.split(".")[3]
    assert crypto.open_sealed(rewrapped, aad=AAD, keyring=crypto.Keyring([new])) == "v-123456"


def test_parse_master_keys_accepts_lists_and_rejects_short_keys():
    first, second = _key(), base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    assert crypto.parse_master_keys(f"{first},\n{second}\n") == [first, second]
    crypto.Keyring([first, second])
    with pytest.raises(ImproperlyConfigured, match="key #2"):
        crypto.parse_master_keys(f"{first},{base64.b64encode(b'short').decode()}")


def test_master_key_repr_shows_no_key_material():
    key = crypto.Keyring([_key()]).newest
    assert repr(key) == f"MasterKey(key_id={key.key_id!r})"
