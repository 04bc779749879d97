"""Reads of the compliance app, scoped to their owner."""

from __future__ import annotations

from django.db.models import QuerySet

from compliance.models import AuditEvent


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    """The user's own audit events, newest first."""
    return AuditEvent.objects.filter(actor_id=user.pk).order_by("-created_at", "-id")
