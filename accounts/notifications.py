"""Security notices by email: every sensitive change tells the account owner.

A notice is queued after the change commits and sent by a worker, so a slow or unreachable mail
server neither holds up the request nor loses the notice: the task retries with backoff. When
the queue itself cannot be reached, the notice is sent at once instead.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

logger = logging.getLogger(__name__)


def security_notice_send(*, user, subject: str, body: str) -> None:
    """Email the user a security notice once the current transaction commits."""
    from accounts.tasks import security_notice_task

    subject = f"[Peregrine] {subject}"
    message = (
        f"{body}\n\nIf this was not you, change your password, end your other sessions and "
        f"review your exchange keys at {settings.SITE_URL}/accounts/security/.\n\n- Peregrine"
    )

    def queue() -> None:
        address = user.email  # the address the account has when the change commits
        try:
            security_notice_task.delay(address, subject, message)
        except Exception:  # the broker is down: send it now rather than not at all
            logger.warning("security notice %r not queued; sending it now", subject, exc_info=True)
            send_mail(subject, message, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=True)

    transaction.on_commit(queue, robust=True)
