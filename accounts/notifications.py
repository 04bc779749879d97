"""Security notices by email: every sensitive change tells the account owner."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction


def security_notice_send(*, user, subject: str, body: str) -> None:
    """Email the user a security notice once the current transaction commits."""
    message = (
        f"{body}\n\nIf this was not you, change your password, end your other sessions and "
        f"review your exchange keys at {settings.SITE_URL}/accounts/security/.\n\n- Peregrine"
    )

    def _send() -> None:
        send_mail(
            f"[Peregrine] {subject}",
            message,
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
            fail_silently=True,
        )

    transaction.on_commit(_send, robust=True)
