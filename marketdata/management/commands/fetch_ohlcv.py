"""Download candle history with ccxt: paginated, resumable, within the exchange's rate budget."""

from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from exchanges.gateway import clients
from exchanges.gateway.ratelimit import RateLimiter, budget_for, scope_for
from exchanges.registry import is_supported
from marketdata.services.candles import candle_derive_all
from marketdata.services.history import ohlcv_fetch_history
from marketdata.timeframes import BASE_TIMEFRAME, TIMEFRAMES_MS


def parse_time(value: str) -> int:
    """Epoch milliseconds, or an ISO 8601 date/time (UTC unless it says otherwise)."""
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{value!r}: expected epoch ms or ISO 8601") from None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


class Command(BaseCommand):
    help = "fetch_ohlcv EXCHANGE SYMBOL TIMEFRAME --since 2024-01-01 [--until ...]"

    def add_arguments(self, parser):
        parser.add_argument("exchange")
        parser.add_argument("symbol")
        parser.add_argument("timeframe", choices=sorted(TIMEFRAMES_MS))
        parser.add_argument("--since", required=True)
        parser.add_argument("--until")
        parser.add_argument("--page-limit", type=int, default=1000)
        parser.add_argument("--no-resume", action="store_true")

    def handle(self, *args, **options):
        exchange = options["exchange"]
        if not is_supported(exchange):
            raise CommandError(f"unknown exchange {exchange!r}")
        client = clients.sync_client(exchange)
        limiter = RateLimiter(
            settings.REDIS_URL, scope_for(exchange), budget_for(client.id, client.rateLimit)
        )
        since = parse_time(options["since"])
        until = parse_time(options["until"]) if options["until"] else None
        report = ohlcv_fetch_history(
            client=client,
            exchange=exchange,
            symbol=options["symbol"],
            timeframe=options["timeframe"],
            since_ms=since,
            until_ms=until,
            page_limit=options["page_limit"],
            limiter=limiter,
            resume=not options["no_resume"],
        )
        if options["timeframe"] == BASE_TIMEFRAME and report.candles:
            candle_derive_all(exchange=exchange, symbol=options["symbol"], start_ms=report.start_ms)
        self.stdout.write(
            f"{report.candles} candles in {report.pages} pages from "
            f"{report.start_ms} to {report.last_ms}"
        )
