"""Refresh an exchange's instruments (precision and limits) from ccxt's load_markets."""

import asyncio

from django.core.management.base import BaseCommand

from marketdata.services.instruments import instrument_load, instrument_sync


class Command(BaseCommand):
    help = "sync_instruments EXCHANGE [EXCHANGE ...]"

    def add_arguments(self, parser):
        parser.add_argument("exchanges", nargs="+")

    def handle(self, *args, **options):
        for exchange in options["exchanges"]:
            markets = asyncio.run(instrument_load(exchange=exchange))
            count = instrument_sync(exchange=exchange, markets=markets)
            self.stdout.write(f"{exchange}: {count} instruments")
