"""Security notices go out through a worker task: queued after commit, retried while the mail
server is unreachable, sent at once when the queue is down."""

import smtplib
import subprocess
import sys

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend

from accounts.notifications import security_notice_send

pytestmark = pytest.mark.django_db


class FlakyBackend(EmailBackend):
    """Fails the first `failures` sends with `error`, then delivers to the test outbox."""

    failures = 0
    error: Exception = smtplib.SMTPServerDisconnected("connection unexpectedly closed")
    attempts = 0

    def send_messages(self, messages):
        type(self).attempts += 1
        if type(self).attempts <= type(self).failures:
            raise type(self).error
        return super().send_messages(messages)


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.attempts = 0
    yield FlakyBackend
    FlakyBackend.failures, FlakyBackend.error = 0, smtplib.SMTPServerDisconnected("closed")


def test_nothing_is_sent_before_the_change_commits(alice, eager_celery):
    with pytest.raises(RuntimeError):
        from django.db import transaction

        with transaction.atomic():
            security_notice_send(user=alice, subject="Key added", body="A key was added.")
            raise RuntimeError("the change fails")
    assert mail.outbox == []


def test_a_notice_is_sent_to_the_owner_after_commit(
    alice, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        security_notice_send(user=alice, subject="Key added", body="A key was added.")
    assert [(m.subject, m.to) for m in mail.outbox] == [("[Peregrine] Key added", [alice.email])]
    assert "If this was not you" in mail.outbox[0].body


def test_an_unreachable_mail_server_is_retried_until_the_notice_is_sent(
    alice, eager_celery, flaky, django_capture_on_commit_callbacks
):
    flaky.failures = 3
    with django_capture_on_commit_callbacks(execute=True):
        security_notice_send(user=alice, subject="2FA disabled", body="2FA was turned off.")
    assert flaky.attempts == 4
    assert [m.subject for m in mail.outbox] == ["[Peregrine] 2FA disabled"]


def test_a_refused_recipient_is_not_retried(
    alice, eager_celery, flaky, django_capture_on_commit_callbacks
):
    flaky.failures = 100
    flaky.error = smtplib.SMTPRecipientsRefused({alice.email: (550, b"no such user")})
    with django_capture_on_commit_callbacks(execute=True):
        security_notice_send(user=alice, subject="2FA disabled", body="2FA was turned off.")
    assert flaky.attempts == 1
    assert mail.outbox == []


def test_with_the_queue_down_the_notice_is_sent_at_once(process_env):
    """A process whose Redis (the broker) refuses connections still mails the notice."""
    env = {**process_env, "REDIS_URL": "redis://127.0.0.1:9/0",
           "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}  # fmt: skip
    code = (
        "from types import SimpleNamespace;"
        "from accounts.notifications import security_notice_send;"
        "security_notice_send(user=SimpleNamespace(email='alice@example.com'),"
        " subject='Password changed', body='It changed.')"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Subject: [Peregrine] Password changed" in done.stdout
    assert "To: alice@example.com" in done.stdout
    assert "not queued; sending it now" in done.stderr
