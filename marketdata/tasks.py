"""Celery tasks on the marketdata queue: leased, time-sliced collectors that re-enqueue themselves.

`collectors_ensure_task` (beat, every 30 s) starts a collector for every configured exchange
whose lease has lapsed; each collector runs for a slice under the task time limit, renewing
its lease, then enqueues its own next slice. At most one collector per exchange runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

import redis
import redis.asyncio as redis_async
from celery import shared_task
from django.conf import settings

from marketdata.collectors import Collector
from marketdata.timeframes import MINUTE_MS

logger = logging.getLogger(__name__)
LEASE_SECONDS = 60


def lease_key(exchange_id: str) -> str:
    return f"collector:lease:{exchange_id}"


def configured_collectors() -> dict[str, list[str]]:
    """PEREGRINE_COLLECTORS entries "exchange:SYM/QUOTE|SYM/QUOTE" as {exchange: [symbols]}."""
    out = {}
    for entry in settings.PEREGRINE_COLLECTORS:
        exchange, _, symbols = entry.partition(":")
        out[exchange.strip()] = [s.strip() for s in symbols.split("|") if s.strip()]
    return out


def history_catch_up(exchange_id: str, symbols: list[str], bars: int) -> dict[str, int]:
    """Fill the gaps of the last `bars` closed 1m bars of each market from the exchange's REST
    history (and derive the higher timeframes); return how many gaps each market still has.

    A collector only sees bars close while it runs; without this, a signal bot started after a
    quiet spell would wait hours for its indicators. A market whose history the exchange will
    not give is logged and left as it is: collecting goes on.
    """
    from exchanges.gateway.clients import sync_client
    from marketdata.services.history import candle_backfill

    end = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS  # the forming bar is never stored
    start = end - bars * MINUTE_MS
    client = sync_client(exchange_id)
    left = {}
    for symbol in symbols:
        try:
            gaps = candle_backfill(
                client=client, exchange=exchange_id, symbol=symbol, timeframe="1m",
                start_ms=start, end_ms=end,
            )  # fmt: skip
            left[symbol] = len(gaps)
        except Exception:  # the exchange's or the network's: collecting goes on
            logger.warning("history of %s %s not filled in", exchange_id, symbol, exc_info=True)
    return left


def _history_catch_up_thread(exchange_id: str, symbols: list[str], bars: int) -> None:
    from django.db import connection

    try:
        history_catch_up(exchange_id, symbols, bars)
    finally:
        connection.close()  # this thread's own connection


async def collect_for(exchange_id: str, symbols: list[str], seconds: float, token: str) -> bool:
    """Run one slice while holding the lease; False if another collector holds it."""
    client = redis_async.from_url(settings.REDIS_URL)
    key = lease_key(exchange_id)
    try:
        if not await client.set(key, token, nx=True, ex=LEASE_SECONDS):
            if (await client.get(key) or b"").decode() != token:
                return False
        renewed = [0.0]
        loop = asyncio.get_running_loop()

        async def heartbeat() -> None:
            if loop.time() - renewed[0] >= LEASE_SECONDS / 4:
                renewed[0] = loop.time()
                await client.expire(key, LEASE_SECONDS)

        bars = settings.PEREGRINE_COLLECTOR_HISTORY_BARS
        if bars:
            await asyncio.to_thread(_history_catch_up_thread, exchange_id, symbols, bars)
        collector = Collector(
            exchange_id,
            symbols,
            redis_client=client,
            heartbeat=heartbeat,
            poll_seconds=settings.PEREGRINE_COLLECTOR_POLL_SECONDS,
        )
        await collector.run(seconds=seconds)
        return True
    finally:
        await client.aclose()


@shared_task(name="marketdata.tasks.collector_run_task", ignore_result=True)
def collector_run_task(exchange_id: str, token: str = "") -> None:
    """Collect one exchange for a slice, then enqueue the next slice (same lease token)."""
    symbols = configured_collectors().get(exchange_id)
    if not symbols:
        return
    token = token or secrets.token_hex(8)
    seconds = settings.PEREGRINE_COLLECTOR_SLICE_SECONDS
    if asyncio.run(collect_for(exchange_id, symbols, seconds, token)):
        collector_run_task.apply_async((exchange_id, token), queue="marketdata")


@shared_task(name="marketdata.tasks.collectors_ensure_task", ignore_result=True)
def collectors_ensure_task() -> None:
    """Start a collector for each configured exchange that has none running."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for exchange_id in configured_collectors():
        if not client.exists(lease_key(exchange_id)):
            logger.info("starting collector for %s", exchange_id)
            collector_run_task.apply_async((exchange_id,), queue="marketdata")


@shared_task(name="marketdata.tasks.arbitrage_spread_scan_task", ignore_result=True)
def arbitrage_spread_scan_task() -> int:
    """Price the collected markets' spreads and triangles (beat); the number of sightings."""
    from marketdata.services.arbitrage import arbitrage_scan, arbitrage_sizes

    return len(arbitrage_scan(markets=configured_collectors(), sizes=arbitrage_sizes()))
