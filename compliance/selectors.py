"""Reads of the compliance app, scoped to their owner."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from compliance.audit_chain import GENESIS, anchor_mac, event_hash
from compliance.models import AuditAnchor, AuditEvent


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    """The user's own audit events and failed logins to their address, newest first."""
    failed_logins = Q(actor__isnull=True, action="login.failed", after__email=user.email)
    return AuditEvent.objects.filter(Q(actor_id=user.pk) | failed_logins).order_by(
        "-created_at", "-id"
    )


@dataclass(frozen=True)
class ChainBreak:
    """The first link of the audit chain that does not hold."""

    event_id: int | None
    seq: int | None
    reason: str


@dataclass(frozen=True)
class ChainReport:
    events: int
    anchors: int
    head_seq: int
    breaks: ChainBreak | None
    # anchor id -> the key (compliance.services.AnchorKey) whose MAC it verified under
    anchor_keys: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.breaks is None


def audit_chain_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Recompute the whole chain and check every anchor; report the first broken link."""
    from compliance.services import anchor_keys

    keys, verified = anchor_keys(), {}
    unchained = AuditEvent._base_manager.filter(seq__isnull=True).order_by("id").first()
    anchors = _anchors_by_seq()
    expected_seq, prev_hash, count = 1, GENESIS, 0
    found: ChainBreak | None = None
    rows = AuditEvent._base_manager.filter(seq__isnull=False).order_by("seq").values()
    for row in rows.iterator(chunk_size=chunk_size):
        found = _link_check(row, expected_seq, prev_hash) or _anchor_check(row, anchors)
        if found:
            break
        expected_seq, prev_hash, count = row["seq"] + 1, row["hash"], count + 1
    head_seq = expected_seq - 1
    if found is None:
        found = _anchors_beyond_head(anchors, head_seq) or _anchor_macs_check(keys, verified)
    if found is None and unchained is not None:
        found = ChainBreak(unchained.pk, None, "event is not linked into the chain (no seq)")
    return ChainReport(
        events=count,
        anchors=AuditAnchor.objects.count(),
        head_seq=head_seq,
        breaks=found,
        anchor_keys={pk: keys[kid] for pk, kid in verified.items()},
    )


def _anchors_by_seq() -> dict[int, list[AuditAnchor]]:
    anchors: dict[int, list[AuditAnchor]] = {}
    for anchor in AuditAnchor.objects.order_by("seq", "id"):
        anchors.setdefault(anchor.seq, []).append(anchor)
    return anchors


def _link_check(row: dict, expected_seq: int, prev_hash: str) -> ChainBreak | None:
    def broken(reason: str) -> ChainBreak:
        return ChainBreak(row["id"], row["seq"], reason)

    if row["seq"] != expected_seq:
        return ChainBreak(
            row["id"], row["seq"], f"events #{expected_seq}..#{row['seq'] - 1} are missing"
        )
    if row["prev_hash"] != prev_hash:
        return broken("prev_hash is not the hash of the event before it")
    if event_hash(row) != row["hash"]:
        return broken("contents do not match its hash (the event was changed)")
    return None


def _anchor_check(row: dict, anchors: dict[int, list[AuditAnchor]]) -> ChainBreak | None:
    for anchor in anchors.get(row["seq"], ()):
        if anchor.head_hash != row["hash"]:
            return ChainBreak(
                row["id"], row["seq"], f"hash differs from the one signed by anchor {anchor.pk}"
            )
    return None


def _anchors_beyond_head(anchors: dict, head_seq: int) -> ChainBreak | None:
    beyond = [seq for seq in anchors if seq > head_seq]
    if beyond:
        return ChainBreak(
            None,
            head_seq + 1,
            f"events after #{head_seq} are gone (an anchor signed #{max(beyond)})",
        )
    return None


def _anchor_macs_check(keys: dict, verified: dict[int, str]) -> ChainBreak | None:
    for anchor in AuditAnchor.objects.order_by("seq", "id"):
        key = keys.get(anchor.key_id)
        if key is None:
            return ChainBreak(
                None,
                anchor.seq,
                f"anchor {anchor.pk} was signed with key {anchor.key_id}, which is not configured"
                " (add it to AUDIT_ANCHOR_PREVIOUS_KEYS)",
            )
        mac = anchor_mac(
            key=key.secret, seq=anchor.seq, head_hash=anchor.head_hash, created_at=anchor.created_at
        )
        if not hmac.compare_digest(mac, anchor.mac):
            return ChainBreak(
                None,
                anchor.seq,
                f"anchor {anchor.pk}'s signature does not verify under its key"
                f" {anchor.key_id or key.label}",
            )
        verified[anchor.pk] = anchor.key_id
    return None
