"""Where this installation's email goes when it is not really sent (development backends).

Shown where a user waits for a verification email: with the console backend the message is
printed by the web process, with the file backend it is written under EMAIL_FILE_PATH.
"""

from django import template
from django.conf import settings

register = template.Library()

CONSOLE = "django.core.mail.backends.console.EmailBackend"
FILE = "django.core.mail.backends.filebased.EmailBackend"


@register.simple_tag
def mail_whereabouts() -> str:
    """A sentence saying where the email went, or "" when it is really sent."""
    backend = settings.EMAIL_BACKEND
    if backend == CONSOLE:
        return (
            "This installation does not send email (development): the message, with its link, "
            "is printed in the terminal running Peregrine (the one where you typed `make run`; "
            "with Docker, `docker compose logs web`)."
        )
    if backend == FILE:
        path = getattr(settings, "EMAIL_FILE_PATH", "") or "(EMAIL_FILE_PATH is not set)"
        return (
            "This installation does not send email (development): the message, with its link, "
            f"is written as a file under {path}, newest last."
        )
    return ""
