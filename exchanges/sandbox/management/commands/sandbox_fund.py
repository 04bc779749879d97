"""Credit a sandbox user's balance."""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from exchanges.sandbox.services import sandbox_fund


class Command(BaseCommand):
    help = "Fund a sandbox user: sandbox_fund NAME ASSET AMOUNT [--venue VENUE]."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("asset")
        parser.add_argument("amount")
        parser.add_argument("--venue", default="", help="one venue; default every venue")

    def handle(self, *args, **options):
        try:
            amount = Decimal(options["amount"])
            deposit = sandbox_fund(
                name=options["name"], asset=options["asset"], amount=amount, venue=options["venue"]
            )
        except (InvalidOperation, ValidationError) as exc:
            raise CommandError(str(exc)) from exc
        where = deposit.venue or "every venue"
        self.stdout.write(
            f"credited {deposit.amount} {deposit.asset} to {deposit.user.name} on {where}"
        )
