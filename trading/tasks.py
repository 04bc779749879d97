"""Celery tasks of the trading app (thin: load by id, call one service).

`bot_run_slice_task` runs on the "bots" queue (route trading.tasks.bot_*); give that queue a
worker with a thread pool (`-P threads -c 100`): a slice waits on market events most of the
time, and one process then runs many bots. Schedules live in settings.CELERY_BEAT_SCHEDULE.
"""

from __future__ import annotations

import gc
import logging

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from django.db import DatabaseError

from exchanges.gateway.errors import GatewayError
from tradecore.order_manager import VenueTimeout
from trading.runtime.runner import bot_run_slice, drain, live_cancel_all
from trading.services.bots import bot_supervise
from trading.services.manual import manual_watch_run
from trading.services.realized_costs import realized_costs_refresh
from trading.services.risk import risk_sweep

logger = logging.getLogger(__name__)


@worker_ready.connect
def _freeze_startup_objects(**kwargs) -> None:
    """Keep Django's, Celery's and ccxt's start-up objects out of the garbage collector's way.

    A full collection otherwise walks every one of them again and again, stalling every bot of
    the process at once (the trading bench showed such stalls about every 20 s).
    """
    gc.collect()
    gc.freeze()


@worker_shutting_down.connect
def _drain_bots(**kwargs) -> None:
    """A warm shutdown hands every bot of the worker over now instead of after its slice.

    Celery waits for running tasks before it exits; without this a deploy would wait up to a
    slice (PEREGRINE_BOT_SLICE_SECONDS) for each bot. Thread pools only: a prefork child does
    not hear the signal and finishes its slice.
    """
    drain()


@shared_task(name="trading.tasks.bot_run_slice_task", ignore_result=True, acks_late=False)
def bot_run_slice_task(bot_id: int, handover_token: int | None = None) -> str:
    """Run one slice of the bot's loop under its lease; it enqueues its own next slice.

    Not acknowledged late: a worker that dies mid-slice loses the message, and the supervisor
    resumes the bot once its lease expires (a redelivery an hour later would only find the
    lease taken).
    """
    outcome = bot_run_slice(bot_id, handover_token)
    logger.info("bot %s slice: %s", bot_id, outcome)
    return outcome


@shared_task(
    name="trading.tasks.bot_orders_cancel_task",
    ignore_result=True,
    autoretry_for=(GatewayError, VenueTimeout, DatabaseError),
    retry_backoff=True,
    max_retries=5,
)
def bot_orders_cancel_task(bot_id: int, reason: str) -> int:
    """Cancel every order of a killed live bot on the exchange (its lease is already revoked).

    Sent by the kill (a risk halt, the owner, a kill switch) instead of cancelling on the
    caller's thread; idempotent, so a retry after a transient error cancels what is left.
    """
    cancelled = live_cancel_all(bot_id, reason)
    logger.info("bot %s kill: %s orders cancelled", bot_id, cancelled)
    return cancelled


@shared_task(name="trading.tasks.bot_manual_watch_task", ignore_result=True)
def bot_manual_watch_task(bot_id: int, claim: str | None = None) -> str:
    """Sync the working orders placed by hand on an account for a slice (trading.services.
    manual): their fills and cancels on the exchange reach the books and the panel."""
    outcome = manual_watch_run(bot_id=bot_id, claim=claim)
    logger.info("manual bot %s watch: %s", bot_id, outcome)
    return outcome


@shared_task(name="trading.tasks.bot_supervise_task", ignore_result=True)
def bot_supervise_task() -> dict:
    """Resume bots whose runner died (beat, every 10 s); too many restarts put them in error."""
    return bot_supervise()


@shared_task(name="trading.tasks.risk_sweep_task", ignore_result=True)
def risk_sweep_task() -> dict:
    """Check every trading bot's and user's risk limits (beat, every 5 s)."""
    result = risk_sweep()
    return {"checked": len(result["checked"]), "breaches": len(result["breaches"])}


@shared_task(name="trading.tasks.realized_costs_refresh_task", ignore_result=True)
def realized_costs_refresh_task() -> dict:
    """Recompute the anonymous realized fee and slippage aggregates (beat, every 15 min)."""
    return realized_costs_refresh()
