"""Create a sandbox exchange user and print a new API key and secret for it."""

from django.core.management.base import BaseCommand

from exchanges.sandbox.services import sandbox_user_create


class Command(BaseCommand):
    help = "Create a sandbox user (or add a key to one) and print its API key and secret."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--read-only", action="store_true", help="key cannot trade")
        parser.add_argument(
            "--withdrawals",
            action="store_true",
            help="key reports withdrawals enabled (to see the warning)",
        )
        parser.add_argument("--ip-restrict", action="store_true")

    def handle(self, *args, **options):
        issued = sandbox_user_create(
            name=options["name"],
            can_trade=not options["read_only"],
            enable_withdrawals=options["withdrawals"],
            ip_restrict=options["ip_restrict"],
        )
        # printed once, for the operator to paste into Peregrine's exchange-account form
        self.stdout.write(f"user:    {issued.user.name}")
        self.stdout.write(f"api key: {issued.api_key}")
        self.stdout.write(f"secret:  {issued.secret}")
