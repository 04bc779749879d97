"""Report gaps in stored candles, and fill them from the exchange with --backfill."""

from django.conf import settings
from django.core.management.base import BaseCommand

from exchanges.gateway import clients
from exchanges.gateway.ratelimit import RateLimiter, budget_for, scope_for
from marketdata.management.commands.fetch_ohlcv import parse_time
from marketdata.services.candles import candle_gaps
from marketdata.services.history import candle_backfill
from marketdata.timeframes import TIMEFRAMES_MS


class Command(BaseCommand):
    help = "candle_gaps EXCHANGE SYMBOL TIMEFRAME --since ... --until ... [--backfill]"

    def add_arguments(self, parser):
        parser.add_argument("exchange")
        parser.add_argument("symbol")
        parser.add_argument("timeframe", choices=sorted(TIMEFRAMES_MS))
        parser.add_argument("--since", required=True)
        parser.add_argument("--until", required=True)
        parser.add_argument("--backfill", action="store_true")

    def handle(self, *args, **options):
        key = {
            "exchange": options["exchange"],
            "symbol": options["symbol"],
            "timeframe": options["timeframe"],
        }
        start, end = parse_time(options["since"]), parse_time(options["until"])
        gaps = candle_gaps(**key, start_ms=start, end_ms=end)
        if options["backfill"] and gaps:
            client = clients.sync_client(options["exchange"])
            limiter = RateLimiter(
                settings.REDIS_URL,
                scope_for(options["exchange"]),
                budget_for(client.id, client.rateLimit),
            )
            gaps = candle_backfill(
                client=client, **key, start_ms=start, end_ms=end, limiter=limiter
            )
        for gap in gaps:
            self.stdout.write(f"gap {gap.start_ms}..{gap.end_ms}: {gap.missing} bars missing")
        self.stdout.write(f"{len(gaps)} gaps")
