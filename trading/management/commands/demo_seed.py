"""Create the demo: a demo user, sandbox exchange accounts and three running paper bots."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from config.embedded import MANAGE_COMMAND
from trading.demo import demo_seed


class Command(BaseCommand):
    help = (
        "Make sure the demo user, its sandbox accounts and its paper bots (market making, "
        "cross-exchange market making, EMA crossover) exist and run. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-start", action="store_true", help="create what is missing, start nothing"
        )

    def handle(self, *args, no_start: bool = False, **options):
        result = demo_seed(start=not no_start)
        for item in result.created:
            self.stdout.write(f"demo: created {item}")
        for name in result.started:
            self.stdout.write(f"demo: started {name}")
        if result.password:
            self.stdout.write(
                f"demo: sign in as {result.email} with password {result.password} "
                f"(shown once; reset it with `{MANAGE_COMMAND} changepassword {result.email}`)"
            )
        elif not result.created and not result.started:
            self.stdout.write(f"demo: {result.email} and its bots are ready")
