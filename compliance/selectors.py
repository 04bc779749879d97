"""Reads of the compliance app, scoped to their owner."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from compliance.models import AuditEvent


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    """The user's own audit events and failed logins to their address, newest first."""
    failed_logins = Q(actor__isnull=True, action="login.failed", after__email=user.email)
    return AuditEvent.objects.filter(Q(actor_id=user.pk) | failed_logins).order_by(
        "-created_at", "-id"
    )
