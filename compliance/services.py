"""Writes of the compliance app: the audit trail, a hash chain with signed anchors.

Writers are serialized by a transaction-scoped Postgres advisory lock: each takes it, reads the
chain head (the event with the highest seq), inserts the next event and lets go at commit, so
two writers never take the same seq and the chain's order is the commit order. The lock is held
until the caller's transaction commits; audit_record() is the last write of most services.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from compliance.audit_chain import GENESIS, anchor_mac, event_hash, key_id
from compliance.models import AuditAnchor, AuditEvent
from config.logging import REDACTED, redact_value

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the chain: any fixed 64-bit number no other code uses.
AUDIT_CHAIN_LOCK = 0x5045524547524E41  # "PEREGRNA"

_SECRET_NAME_PARTS = ("api_key", "secret", "passphrase", "password", "otp", "ciphertext")


def _scrub(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """Keep before/after free of secrets: sensitive names lose their values."""
    if values is None:
        return None
    clean = {}
    for name, value in values.items():
        lowered = name.lower()
        if any(part in lowered for part in _SECRET_NAME_PARTS) and not lowered.endswith("_last4"):
            clean[name] = REDACTED
        else:
            clean[name] = redact_value(value)
    return clean


def audit_record(
    *,
    actor=None,
    action: str,
    target: models.Model | None = None,
    ip: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event to the chain; before/after never carry secret values."""
    actor_user = actor if getattr(actor, "is_authenticated", False) else None
    event = AuditEvent(
        actor_id=actor_user.pk if actor_user is not None else None,
        actor_email=getattr(actor_user, "email", "") or "",
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        # stored as the database will give it back (IPv6 normalized), since the hash covers it
        ip=AuditEvent._meta.get_field("ip").get_prep_value(ip or None),
        before=_scrub(before),
        after=_scrub(after),
    )
    with transaction.atomic():
        _chain_lock()
        seq, prev_hash = _chain_head(AuditEvent)
        _link(event, seq=seq + 1, prev_hash=prev_hash, created_at=timezone.now())
        event.save(force_insert=True)
    return event


def _chain_lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK])


def _chain_head(model) -> tuple[int, str]:
    head = (
        model._base_manager.filter(seq__isnull=False)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    return head if head is not None else (0, GENESIS)


def _link(event, *, seq: int, prev_hash: str, created_at) -> None:
    event.seq, event.prev_hash, event.created_at = seq, prev_hash, created_at
    event.hash = event_hash({**event.__dict__, "created_at": created_at})


def audit_chain_unchained(*, model=AuditEvent) -> int:
    """Link events without a seq (written before the chain existed) after the head, oldest
    first; return how many. `model` is the migration's historical model when run from one."""
    linked = 0
    with transaction.atomic():
        _chain_lock()
        seq, prev_hash = _chain_head(model)
        for event in model._base_manager.filter(seq__isnull=True).order_by("created_at", "id"):
            _link(event, seq=seq + 1, prev_hash=prev_hash, created_at=event.created_at)
            model._base_manager.filter(pk=event.pk, seq__isnull=True).update(
                seq=event.seq, prev_hash=event.prev_hash, hash=event.hash
            )
            seq, prev_hash, linked = event.seq, event.hash, linked + 1
    return linked


# The key id recorded on anchors signed before AUDIT_ANCHOR_KEY existed (migration 0005 left
# their key_id empty): their key was derived from SECRET_KEY.
LEGACY_KEY_ID = ""


@dataclass(frozen=True)
class AnchorKey:
    """One key that signs or verifies anchors: its id (on the anchor), a label and the bytes."""

    key_id: str
    label: str
    secret: bytes


def anchor_key() -> AnchorKey:
    """The key that signs new anchors: settings.AUDIT_ANCHOR_KEY (kept outside the database)."""
    secret = settings.AUDIT_ANCHOR_KEY.encode()
    return AnchorKey(key_id=key_id(secret), label="current", secret=secret)


def anchor_keys() -> dict[str, AnchorKey]:
    """Every key that verifies anchors, by key id: the current one, the previous ones, and the
    pre-AUDIT_ANCHOR_KEY key derived from SECRET_KEY for anchors that carry no key id."""
    keys = {LEGACY_KEY_ID: AnchorKey(LEGACY_KEY_ID, "legacy (from SECRET_KEY)", _legacy_key())}
    for n, text in enumerate(settings.AUDIT_ANCHOR_PREVIOUS_KEYS, start=1):
        secret = text.encode()
        keys[key_id(secret)] = AnchorKey(key_id(secret), f"previous #{n}", secret)
    current = anchor_key()
    keys[current.key_id] = current
    return keys


def _legacy_key() -> bytes:
    return hashlib.sha256(b"peregrine.audit.anchor:" + settings.SECRET_KEY.encode()).digest()


def audit_anchor_create() -> AuditAnchor | None:
    """Sign the chain head as it is now (None when there are no events or no new one)."""
    with transaction.atomic():
        _chain_lock()
        seq, head_hash = _chain_head(AuditEvent)
        last = AuditAnchor.objects.order_by("-seq").values_list("seq", flat=True).first()
        if seq == 0 or last == seq:
            return None
        now, key = timezone.now(), anchor_key()
        anchor = AuditAnchor.objects.create(
            created_at=now,
            seq=seq,
            head_hash=head_hash,
            mac=anchor_mac(key=key.secret, seq=seq, head_hash=head_hash, created_at=now),
            key_id=key.key_id,
        )
    # also in the log, which lives outside the database: a copy to compare with later
    logger.info(
        "audit anchor seq=%s head=%s mac=%s key=%s", seq, head_hash, anchor.mac, anchor.key_id
    )
    return anchor
