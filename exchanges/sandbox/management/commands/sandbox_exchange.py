"""Run the sandbox exchange server (Binance spot REST subset) with its venues."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from exchanges.sandbox.app import build_server, parse_offsets, parse_replay
from exchanges.sandbox.market import ScaledClock
from exchanges.sandbox.store import DatabaseSync


def _clock(speed: float, origin: float | None):
    if speed == 1.0 and origin is None:
        return None
    return ScaledClock(speed, origin)


class Command(BaseCommand):
    help = "Run the sandbox exchange: venues speaking Binance spot REST over the matching engine."

    def add_arguments(self, parser):
        url = urlparse(settings.PEREGRINE_SANDBOX_URL)
        parser.add_argument("--host", default=url.hostname or "127.0.0.1")
        parser.add_argument("--port", type=int, default=url.port or 8100)
        parser.add_argument(
            "--venues",
            default=",".join(settings.PEREGRINE_SANDBOX_VENUES),
            help="comma-separated venue ids",
        )
        parser.add_argument(
            "--offset",
            action="append",
            default=[],
            help="VENUE=BPS price offset (repeatable); default 10 bp per venue",
        )
        parser.add_argument(
            "--replay",
            action="append",
            default=[],
            help="SYMBOL=FILE: replay 1m candles (shared-data CSV layout)",
        )
        parser.add_argument(
            "--speed", type=float, default=1.0, help="replay speed (60 = one 1m bar per second)"
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--tick", type=float, default=0.25, help="seconds between market ticks")
        parser.add_argument("--history-bars", type=int, default=1440)
        parser.add_argument("--weight-limit", type=int, default=6000)
        parser.add_argument(
            "--demo-user",
            default="",
            help="create this sandbox user on first start, fund it and print its key",
        )
        parser.add_argument(
            "--demo-funds", default="USDT=100000,BTC=2,ETH=20", help="ASSET=AMOUNT,... for it"
        )
        parser.add_argument(
            "--clock-speed",
            type=float,
            default=1.0,
            help="market time runs this many times faster than real time",
        )
        parser.add_argument(
            "--clock-origin",
            type=float,
            default=None,
            help="epoch seconds where market and real time agree (default now)",
        )

    def handle(self, *args, **options):
        venues = [v.strip() for v in options["venues"].split(",") if v.strip()]
        unknown = [v for v in venues if v not in settings.PEREGRINE_SANDBOX_VENUES]
        if unknown:
            raise CommandError(f"not in PEREGRINE_SANDBOX_VENUES: {', '.join(unknown)}")
        try:
            server = build_server(
                venues,
                offsets=parse_offsets(options["offset"]),
                replay=parse_replay(options["replay"]),
                speed=options["speed"],
                seed=options["seed"],
                history_bars=options["history_bars"],
                tick_seconds=options["tick"],
                weight_limit=options["weight_limit"],
                clock=_clock(options["clock_speed"], options["clock_origin"]),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["demo_user"]:
            self._demo_user(options["demo_user"], options["demo_funds"])
        asyncio.run(self._serve(server, options["host"], options["port"]))

    def _demo_user(self, name: str, funds: str) -> None:
        from decimal import Decimal

        from exchanges.sandbox.models import SandboxUser
        from exchanges.sandbox.services import sandbox_fund, sandbox_user_create

        if SandboxUser.objects.filter(name=name).exists():
            return
        issued = sandbox_user_create(name=name)
        for item in funds.split(","):
            asset, _, amount = item.partition("=")
            sandbox_fund(name=name, asset=asset.strip(), amount=Decimal(amount))
        # printed once, on the first start: the operator pastes it into an exchange account
        self.stdout.write(
            f"sandbox demo user {name!r} ({funds}); api key: {issued.api_key} "
            f"secret: {issued.secret}"
        )

    async def _serve(self, server, host: str, port: int) -> None:
        sync = DatabaseSync(server)
        await sync.sync_once()
        await server.start(host, port)
        self.stdout.write(
            f"sandbox exchange on http://{host}:{port}/<venue>/ venues: {', '.join(server.venues)}"
        )
        try:
            await sync.run()
        finally:
            await server.stop()
