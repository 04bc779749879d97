"""Envelope encryption for stored secrets (AES-256-GCM), bound to the row that owns them.

Every secret gets a fresh 256-bit data key. The data key encrypts the secret; the newest master
key wraps the data key. Both encryptions carry the same associated data, which names the table,
row id, owner id and key version, so a ciphertext copied into another row, another user's row or
an older key version fails to open. Master keys live outside the database (environment or file),
as a list: the last is the newest; older keys still open what they wrapped until
`manage.py rotate_master_key` re-wraps everything.

Sealed format (one ASCII string, safe in a text column):
    pgv1.<master key id>.<b64 nonce|wrapped data key>.<b64 nonce|ciphertext>

This module imports nothing from Django at import time, so settings can use its parser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_PREFIX = "pgv1"
_NONCE_BYTES = 12
_KEY_BYTES = 32


class DecryptionError(Exception):
    """A sealed value could not be opened: wrong row binding, unknown key or tampering."""


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    key: bytes = b""

    def __repr__(self) -> str:  # never show key material, even in a traceback
        return f"MasterKey(key_id={self.key_id!r})"


def parse_master_keys(value: str) -> list[str]:
    """Split and check a master key list (base64 of 32 bytes each); raise ImproperlyConfigured."""
    items = [item for item in re.split(r"[\s,]+", value or "") if item]
    for position, item in enumerate(items, start=1):
        if len(_decode_key(item)) != _KEY_BYTES:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"PEREGRINE_MASTER_KEYS: key #{position} is not base64 of 32 random bytes"
            )
    return items


def development_master_key() -> str:
    """The fixed, public key used outside production so dev and test data stay readable."""
    digest = hashlib.sha256(b"peregrine development master key - public, never for production")
    return base64.b64encode(digest.digest()).decode()


def _decode_key(item: str) -> bytes:
    text = item.replace("-", "+").replace("_", "/")  # accept standard or URL-safe base64
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return b""


def key_id_for(key: bytes) -> str:
    """A short public fingerprint naming a master key inside sealed values."""
    return hashlib.sha256(b"peregrine-master-key-id:" + key).hexdigest()[:12]


class Keyring:
    """Master keys by id; the last given is the newest and wraps new data keys."""

    def __init__(self, encoded_keys: list[str]):
        if not encoded_keys:
            raise ValueError("a keyring needs at least one master key")
        self._keys: dict[str, MasterKey] = {}
        for item in encoded_keys:
            raw = _decode_key(item)
            if len(raw) != _KEY_BYTES:
                raise ValueError("master keys must be base64 of 32 bytes")
            master = MasterKey(key_id_for(raw), raw)
            self._keys[master.key_id] = master
        self.newest = master

    def get(self, key_id: str) -> MasterKey:
        try:
            return self._keys[key_id]
        except KeyError:
            raise DecryptionError(f"unknown master key {key_id!r}") from None

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)


def associated_data(*, table: str, row_id: object, owner_id: object, key_version: int) -> bytes:
    """The binding every sealed value carries: which table, row, owner and key version."""
    return f"peregrine|{table}|{row_id}|{owner_id}|{key_version}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(plaintext: str, *, aad: bytes, keyring: Keyring) -> str:
    """Encrypt under a fresh data key wrapped by the newest master key."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext.encode(), aad)
    return _wrap(data_key, nonce + ciphertext, aad=aad, master=keyring.newest)


def _wrap(data_key: bytes, body: bytes, *, aad: bytes, master: MasterKey) -> str:
    wrap_nonce = os.urandom(_NONCE_BYTES)
    wrapped = AESGCM(master.key).encrypt(wrap_nonce, data_key, b"data-key|" + aad)
    return ".".join((FORMAT_PREFIX, master.key_id, _b64(wrap_nonce + wrapped), _b64(body)))


def _split(sealed: str) -> tuple[str, bytes, bytes]:
    parts = sealed.split(".")
    if len(parts) != 4 or parts[0] != FORMAT_PREFIX:
        raise DecryptionError("not a sealed value")
    try:
        return parts[1], _unb64(parts[2]), _unb64(parts[3])
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("malformed sealed value") from exc


def _unwrap(sealed: str, *, aad: bytes, keyring: Keyring) -> tuple[bytes, bytes]:
    key_id, wrapped, body = _split(sealed)
    master = keyring.get(key_id)
    try:
        data_key = AESGCM(master.key).decrypt(
            wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], b"data-key|" + aad
        )
    except InvalidTag:
        raise DecryptionError("data key does not open under this binding") from None
    return data_key, body


def open_sealed(sealed: str, *, aad: bytes, keyring: Keyring) -> str:
    """Decrypt a sealed value; DecryptionError if it belongs elsewhere or was altered."""
    data_key, body = _unwrap(sealed, aad=aad, keyring=keyring)
    try:
        plaintext = AESGCM(data_key).decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionError("ciphertext does not open under this binding") from None
    return plaintext.decode()


def rewrap(sealed: str, *, aad: bytes, keyring: Keyring) -> str:
    """Re-wrap the data key under the newest master key; the secret itself is not re-encrypted."""
    data_key, body = _unwrap(sealed, aad=aad, keyring=keyring)
    try:  # prove the secret still opens before its old wrapping is replaced
        AESGCM(data_key).decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptionError("ciphertext does not open under this binding") from None
    return _wrap(data_key, body, aad=aad, master=keyring.newest)


def sealed_key_id(sealed: str) -> str:
    """The id of the master key that wraps a sealed value."""
    return _split(sealed)[0]
