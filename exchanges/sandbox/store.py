"""Keeps a running sandbox server in step with the database: API keys and deposits.

Balances live in the matching engine's memory; on start every recorded deposit is applied,
then new ones as they appear. Trades and orders do not survive a restart of the server.
"""

from __future__ import annotations

import asyncio
import logging

from django.db import close_old_connections

from exchanges.sandbox.server import ApiKey, SandboxServer

logger = logging.getLogger(__name__)


class DatabaseSync:
    """Load keys and apply new deposits to the server's venues."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.last_deposit_id = 0

    def _read(self):
        from exchanges.sandbox.models import SandboxApiKey, SandboxDeposit

        close_old_connections()
        keys = [
            ApiKey(
                k.api_key,
                k.secret,
                k.user.name,
                k.can_trade,
                k.enable_withdrawals,
                k.ip_restrict,
                int(k.created_at.timestamp() * 1000),
            )
            for k in SandboxApiKey.objects.select_related("user")
        ]
        deposits = list(
            SandboxDeposit.objects.filter(id__gt=self.last_deposit_id)
            .select_related("user")
            .order_by("id")
        )
        return keys, deposits

    def apply(self, keys: list[ApiKey], deposits) -> None:
        self.server.keys.replace_all(keys)
        for deposit in deposits:
            for name, venue in self.server.venues.items():
                if deposit.venue in ("", name):
                    venue.exchange.deposit(deposit.user.name, deposit.asset, deposit.amount)
            self.last_deposit_id = deposit.id

    async def sync_once(self) -> None:
        keys, deposits = await asyncio.to_thread(self._read)
        self.apply(keys, deposits)

    async def run(self, interval: float = 1.0) -> None:
        while True:
            try:
                await self.sync_once()
            except Exception:
                logger.exception("sandbox: cannot read keys and deposits; will retry")
            await asyncio.sleep(interval)
