"""Account tasks (default queue): security notices by email, retried while the mail server is
unreachable."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

logger = logging.getLogger(__name__)

# the mail server refused the message itself: sending it again cannot help
PERMANENT = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def _backoff(retries: int) -> int:
    """30 s, 1 min, 2 min… capped at an hour."""
    return min(30 * 2**retries, 3600)


@shared_task(bind=True, name="accounts.tasks.security_notice_task", max_retries=10,
             ignore_result=True)  # fmt: skip
def security_notice_task(self, address: str, subject: str, message: str) -> bool:
    """Send one security notice; True once the mail server has taken it."""
    try:
        send_mail(subject, message, settings.DEFAULT_FROM_EMAIL, [address])
    except PERMANENT:
        logger.warning("security notice %r to %s refused", subject, address, exc_info=True)
        return False
    except (smtplib.SMTPException, OSError) as exc:
        if self.request.retries >= self.max_retries:
            logger.error("security notice %r to %s not sent: %s", subject, address, exc)
            return False
        logger.info("security notice %r to %s: %s; retrying", subject, address, exc)
        raise self.retry(countdown=_backoff(self.request.retries)) from exc
    return True
