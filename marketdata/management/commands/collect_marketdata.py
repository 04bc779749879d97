"""Run a market-data collector in the foreground (the Celery task runs the same collector)."""

import asyncio

import redis.asyncio as redis_async
from django.conf import settings
from django.core.management.base import BaseCommand

from marketdata.collectors import Collector


class Command(BaseCommand):
    help = "collect_marketdata EXCHANGE SYMBOL [SYMBOL ...] [--seconds N] [--mode auto|stream|poll]"

    def add_arguments(self, parser):
        parser.add_argument("exchange")
        parser.add_argument("symbols", nargs="+")
        parser.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
        parser.add_argument("--mode", choices=["auto", "stream", "poll"], default="auto")
        parser.add_argument(
            "--poll-seconds", type=float, default=settings.PEREGRINE_COLLECTOR_POLL_SECONDS
        )

    def handle(self, *args, **options):
        asyncio.run(self._run(options))

    async def _run(self, options) -> None:
        client = redis_async.from_url(settings.REDIS_URL)
        collector = Collector(
            options["exchange"],
            options["symbols"],
            redis_client=client,
            mode=options["mode"],
            poll_seconds=options["poll_seconds"],
        )
        self.stdout.write(
            f"collecting {options['exchange']} {' '.join(options['symbols'])} ({collector.mode})"
        )
        try:
            await collector.run(seconds=options["seconds"])
        finally:
            await client.aclose()
