"""The audit log's hash chain: how one event's hash is computed from its fields and the last hash.

Every event carries `seq` (1, 2, 3... with no gap, one chain per installation), `prev_hash`
(the hash of event seq - 1; GENESIS for the first) and `hash` = SHA-256 of a canonical JSON of
the event's own fields and `prev_hash`. Changing, removing or reordering any event breaks the
link to it and every later one. The chain is plain SHA-256, so anyone can check it; anchors
(compliance.models.AuditAnchor) add a keyed MAC of the chain head at a point in time, which a
writer with database access alone cannot forge.

This module is pure (no ORM): the migration that chains pre-existing events and the verifier
use the same computation as the writer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

# The fields a hash covers, in the order they are listed in the canonical form (keys are sorted
# anyway; the list is what matters: a field added here changes every hash, so never edit it).
HASHED_FIELDS = (
    "seq",
    "prev_hash",
    "created_at",
    "actor_id",
    "actor_email",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "ip",
    "before",
    "after",
)


def _normalize(value: Any) -> Any:
    """JSON values as Postgres jsonb gives them back: an integral float reads back as an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    return value


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes an event's hash is taken over."""
    data = {name: fields.get(name) for name in HASHED_FIELDS}
    data["created_at"] = _timestamp(data["created_at"])
    data["before"] = _normalize(data["before"])
    data["after"] = _normalize(data["after"])
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def event_hash(fields: dict[str, Any]) -> str:
    """The SHA-256 (hex) of an event's canonical form, its prev_hash included."""
    return hashlib.sha256(canonical(fields)).hexdigest()


def anchor_mac(*, key: bytes, seq: int, head_hash: str, created_at: datetime) -> str:
    """The HMAC-SHA256 that signs an anchor: (seq, head hash, time) under the operator's key."""
    message = f"{seq}:{head_hash}:{_timestamp(created_at)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def development_anchor_key() -> str:
    """The fixed, public anchor key used outside production (never derived from SECRET_KEY)."""
    return hashlib.sha256(
        b"peregrine development audit anchor key - public, never for production"
    ).hexdigest()


def key_id(key: bytes) -> str:
    """A key's public id, recorded on each anchor it signs: 16 hex of a hash of the key."""
    return hashlib.sha256(b"peregrine.audit.anchor.key-id:" + key).hexdigest()[:16]
