"""Writes of the compliance app: the audit trail."""

from __future__ import annotations

from typing import Any

from django.db import models

from compliance.models import AuditEvent
from config.logging import REDACTED, redact_value

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
    """Append one audit event; before/after never carry secret values."""
    actor_user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=actor_user,
        actor_email=getattr(actor_user, "email", "") or "",
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        ip=ip or None,
        before=_scrub(before),
        after=_scrub(after),
    )
