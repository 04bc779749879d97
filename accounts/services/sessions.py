"""Signed-in sessions: tracked per session key so a user can see and end the others."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import UserSession
from compliance.services import audit_record


def user_session_touch(*, user, session_key: str, ip: str | None, user_agent: str) -> None:
    """Create or refresh the tracking row of a signed-in session."""
    UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={
            "user": user,
            "ip": ip,
            "user_agent": user_agent[:300],
            "last_seen_at": timezone.now(),
        },
    )


def user_session_forget(*, session_key: str | None) -> None:
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def _session_store_delete(session_key: str) -> None:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    store(session_key=session_key).delete()


@transaction.atomic
def user_session_end(*, user, session: UserSession, ip: str | None = None) -> None:
    """Sign out one of the user's sessions everywhere (the row must be the user's own)."""
    if session.user_id != user.pk:
        raise PermissionError("not this user's session")
    _session_store_delete(session.session_key)
    audit_record(
        actor=user,
        action="session.end",
        ip=ip,
        after={"session_ip": session.ip, "user_agent": session.user_agent[:100]},
    )
    session.delete()


@transaction.atomic
def user_sessions_end_others(*, user, current_key: str | None, ip: str | None = None) -> int:
    """Sign out every session of the user except the current one; return how many."""
    others = list(UserSession.objects.filter(user_id=user.pk).exclude(session_key=current_key))
    for session in others:
        _session_store_delete(session.session_key)
        session.delete()
    audit_record(actor=user, action="session.end_others", ip=ip, after={"count": len(others)})
    return len(others)
