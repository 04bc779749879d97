"""Create a sandbox exchange user and print a new API key and secret for it.

With `--for EMAIL` it does what the "Create a funded sandbox account" button does for that
Peregrine user instead: a funded sandbox user and the paper exchange account holding its key.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from exchanges.sandbox.services import (
    sandbox_account_open,
    sandbox_fund_start,
    sandbox_user_create,
)


class Command(BaseCommand):
    help = "Create a sandbox user (or add a key to one) and print its API key and secret."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", default="")
        parser.add_argument("--read-only", action="store_true", help="key cannot trade")
        parser.add_argument(
            "--withdrawals",
            action="store_true",
            help="key reports withdrawals enabled (to see the warning)",
        )
        parser.add_argument("--ip-restrict", action="store_true")
        parser.add_argument(
            "--fund", metavar="VENUE", default="", help="credit the starting balances on VENUE"
        )
        parser.add_argument(
            "--for",
            dest="email",
            metavar="EMAIL",
            default="",
            help="open a funded sandbox exchange account for this Peregrine user (no NAME)",
        )
        parser.add_argument("--venue", default="", help="with --for: the sandbox venue")

    def handle(self, *args, **options):
        if options["email"]:
            return self._open_for(options["email"], options["venue"])
        if not options["name"]:
            raise CommandError("give a NAME, or --for EMAIL")
        try:
            with transaction.atomic():
                issued = sandbox_user_create(
                    name=options["name"],
                    can_trade=not options["read_only"],
                    enable_withdrawals=options["withdrawals"],
                    ip_restrict=options["ip_restrict"],
                )
                funds = (
                    sandbox_fund_start(name=issued.user.name, venue=options["fund"])
                    if options["fund"]
                    else {}
                )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        # printed once, for the operator to paste into Peregrine's exchange-account form
        self.stdout.write(f"user:    {issued.user.name}")
        self.stdout.write(f"api key: {issued.api_key}")
        self.stdout.write(f"secret:  {issued.secret}")
        if funds:
            credited = ", ".join(f"{amount:,f} {asset}" for asset, amount in funds.items())
            self.stdout.write(f"funded:  {credited} on {options['fund']}")

    def _open_for(self, email: str, venue: str) -> None:
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"no Peregrine user with the email {email!r}")
        try:
            opened = sandbox_account_open(user=user, venue=venue)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        credited = ", ".join(f"{amount:,f} {asset}" for asset, amount in opened.funds.items())
        self.stdout.write(
            f"exchange account '{opened.account.label}' for {email}, funded with {credited}"
        )
