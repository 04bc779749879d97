"""Create the operator account on first run and print its generated password once."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from config.embedded import MANAGE_COMMAND


class Command(BaseCommand):
    help = "Create the operator (superuser) account if no operator exists yet."

    def add_arguments(self, parser):
        parser.add_argument(
            "--email", default=None, help="operator email (PEREGRINE_OPERATOR_EMAIL)"
        )

    def handle(self, *args, **options):
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("operator account exists")
            return
        email = options["email"] or settings.PEREGRINE_OPERATOR_EMAIL
        password = secrets.token_urlsafe(18)
        users.objects.create_superuser(email=email, password=password)
        self.stdout.write(f"created operator account {email} with password {password}")
        self.stdout.write(
            "this password is shown once: store it now "
            f"(reset it with `{MANAGE_COMMAND} changepassword {email}`)"
        )
