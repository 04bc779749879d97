"""One slice of a bot's loop: lease, rebuild, reconcile, trade on events and timers, hand over.

    acquire the lease (fencing token) ─> load the bot ─> build its venues and books
      ─> reconcile with the exchange (live) or rebuild the paper venue from the books
      ─> restore the strategy's checkpoint ─> starting becomes running
      ─> loop until the slice ends: market events (Redis), timers, polls (live), lease
         renewals (which also read the bot's status), checkpoints; every step is written in
         one fenced transaction
      ─> end of slice: checkpoint, enqueue the next slice, keep the lease for its hand-over.
A pause cancels every order and gives the lease up; a stop also runs the strategy's on_stop
and waits for the cancels; an exception in the strategy puts the bot in error, not the worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from concurrent.futures import Future

from django.db import DatabaseError
from redis import RedisError

from exchanges.gateway.errors import Action, GatewayError
from tradecore.clock import WallClock
from tradecore.engine import TradingEngine
from tradecore.order_manager import VenueTimeout
from trading import conf
from trading.models import Bot, Order
from trading.runtime.books import Books
from trading.runtime.cancellation import Cancellation
from trading.runtime.db import db_call
from trading.runtime.hub import Inbox, hub
from trading.runtime.parking import _park as _park
from trading.runtime.parking import _parked as _parked
from trading.runtime.parking import _unpark
from trading.runtime.parking import parked_close_all as parked_close_all
from trading.runtime.reconcile import SyncReport
from trading.runtime.session import PAPER_ACCOUNT as PAPER_ACCOUNT
from trading.runtime.session import SessionSetup, _load_bot
from trading.runtime.signals import RecordingStrategy
from trading.runtime.slice_loop import SliceLoop, _holder
from trading.runtime.slice_loop import drain as drain
from trading.runtime.venues import (
    AccountRefused,
    LiveVenue,
)
from trading.services import leases
from trading.services.bots import (
    bot_fail,
    bot_lease_release,
    bot_runtime_transition,
)
from trading.services.leases import LeaseLost
from trading.services.limits import risk_limits_build

logger = logging.getLogger(__name__)
S = Bot.Status


class BotRunner(SessionSetup, SliceLoop, Cancellation):
    """Runs one slice of one bot's loop on the calling thread.

    Its parts: session set-up and restore (trading.runtime.session), the slice loop
    (trading.runtime.slice_loop), cancellation (trading.runtime.cancellation); here the slice's
    course and the bot's fate (error, release, close).
    """

    def __init__(self, bot_id: int, *, token: int | None = None) -> None:
        self.bot_id = bot_id
        self.token = token
        self.clock = WallClock()
        self.inbox = Inbox(bot_id)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.venues: dict[str, object] = {}
        self.symbols_on: dict[str, list[str]] = {}
        self.books: Books | None = None
        self.engine: TradingEngine | None = None
        self.strategy: RecordingStrategy | None = None
        self.rows: dict[str, Order] = {}
        self.trade_since: dict[str, int | None] = {}
        self.stats: Counter = Counter()
        self.status = ""
        self.reconcile_report = SyncReport()
        self._status_dirty = False
        self._renewal: Future | None = None  # a renewal in flight (see _renew_behind)
        self._renewal_sent = 0.0
        self._registered = False
        self._renewed = time.monotonic()
        self.loop_ended = 0.0  # when the last slice's loop ended (a parked runner)
        self.gaps: dict[str, int] = {}
        self.closed = False

    def run(self, handover_token: int | None = None) -> str:
        """Run one slice; returns what happened (busy, continued, paused, stopped, ...).

        A runner parked by the previous slice on this process carries on from memory; any
        other starts from the books and reconciles.
        """
        ttl = conf.get("PEREGRINE_BOT_LEASE_SECONDS")
        self._began = time.monotonic()
        taken = db_call(
            leases.lease_take,
            bot_id=self.bot_id,
            holder=_holder(),
            ttl_seconds=ttl,
            handover_token=handover_token,
        )
        if taken is None:
            self._close()
            return "busy"
        token, self.status = taken
        if self.engine is not None and token != (handover_token or 0) + 1:
            # someone took the lease between the slices (a kill switch, a supervisor): what
            # this runner remembers may be stale, so it starts from the books like any other
            began, status = self._began, self.status
            self._close()
            self.__init__(self.bot_id)
            self._began, self.status = began, status
        self.token = token
        self._renewed = time.monotonic()
        outcome = "error"
        try:
            outcome = self._run() if self.engine is None else self._continue()
        except LeaseLost:
            logger.info("bot %s: lease taken over; this runner stops", self.bot_id)
            outcome = "fenced"
        except AccountRefused as exc:
            self._fail(f"The exchange refused the account's API key: {exc}")
        except (DatabaseError, RedisError, GatewayError, VenueTimeout) as exc:
            if isinstance(exc, GatewayError) and exc.action is Action.DISABLE_KEY:
                self._fail(f"The exchange refused the account's API key: {exc}")
            else:
                # the platform, not the strategy, failed: leave as a crashed runner would; the
                # lease runs out and the supervisor resumes the bot (within its restart limit)
                logger.warning(
                    "bot %s: runner stopped on %r; the supervisor resumes it", self.bot_id, exc
                )
                outcome = "crashed"
        except Exception as exc:
            logger.exception("bot %s failed", self.bot_id)
            self._fail(f"{type(exc).__name__}: {exc}")
        finally:
            if outcome != "continued":  # a parked runner belongs to the next slice now
                self._close()
        return outcome

    def _continue(self) -> str:
        """The next slice on the same process: nothing crashed, memory is exact; no rebuild.

        Taking the lease over with the handed-over token proves nobody ran the bot between.
        """
        self.bot = db_call(Bot.objects.select_related("user").get, pk=self.bot_id)
        self.books.bot, self.books.token = self.bot, self.token
        self.engine.om.id_prefix = f"{self.bot.client_id_prefix}{self.token}"
        self.engine.risk.limits = risk_limits_build(self.bot)  # limits may change while running
        self.stats, self.books.sent, self.inbox.dropped_books = Counter(self.gaps), 0, 0
        if self.status == S.STARTING:
            self._transition(S.RUNNING, "Running again.", (S.STARTING,))
        if self.status != S.RUNNING:
            return self._on_status_change()
        return self._loop()

    def _run(self) -> str:
        self.bot = db_call(_load_bot, self.bot_id)
        if self.bot is None:
            return "gone"
        self.status = self.bot.status
        self._build_venues()
        self._keep_lease()
        self._restore_books()
        self._keep_lease()
        if self.status in (S.DRAFT, S.STOPPED, S.ERROR, S.PAUSED):
            return self._leftovers()
        self._build_engine()
        self._keep_lease()
        if self.status == S.STARTING:
            summary = self.reconcile_report.describe()
            bot = self._transition(
                S.RUNNING, f"Running; reconciled with the exchange: {summary}.", (S.STARTING,)
            )
            self.status = bot.status
        if self.status == S.STOPPING:
            return self._wind_down(S.STOPPED)
        if self.status != S.RUNNING:
            return self._leftovers()
        return self._loop()

    def _transition(self, status: str, reason: str, allowed_from: tuple[str, ...]) -> Bot:
        bot = db_call(
            bot_runtime_transition,
            bot_id=self.bot_id,
            token=self.token,
            status=status,
            reason=reason,
            allowed_from=allowed_from,
        )
        self.status = bot.status
        return bot

    def _release(self) -> None:
        db_call(bot_lease_release, bot_id=self.bot_id, token=self.token)

    def _fail(self, message: str) -> None:
        try:
            if self.engine is not None:
                self.engine.om.cancel_all()
            if self.books is not None:
                self.books.flush()
        except Exception:
            logger.warning("bot %s: could not cancel after a failure", self.bot_id, exc_info=True)
        try:
            db_call(bot_fail, bot_id=self.bot_id, token=self.token, message=message[:500])
            self._release()
        except Exception:
            logger.exception("bot %s: could not record its failure", self.bot_id)

    def _close(self) -> None:
        self.closed = True
        if self._registered:
            hub().unregister(self.inbox)
            self._registered = False
        for venue in self.venues.values():
            if isinstance(venue, LiveVenue):
                venue.close()
        self.venues = {}
        if self.loop is not None and not self.loop.is_closed():
            self.loop.close()


def bot_run_slice(bot_id: int, handover_token: int | None = None) -> str:
    """Run one slice of the bot's loop on this thread; the task's whole body."""
    runner = _unpark(bot_id, handover_token) or BotRunner(bot_id)
    return runner.run(handover_token)


def live_cancel_all(bot_id: int, reason: str) -> int:
    """Kill of a live bot (lease already revoked): cancel every order it has; return how many.

    Runs on a task's own thread (trading.tasks.bot_orders_cancel_task), never on a database
    thread: it makes exchange calls and its own database calls.
    """
    runner = BotRunner(bot_id, token=None)
    runner.bot = db_call(_load_bot, bot_id)
    if runner.bot is None:
        return 0
    cancelled = 0
    try:
        runner._build_venues()
        runner.books.token = None
        runner._restore_books()
        for name, venue in runner.venues.items():
            for known in runner.books.active(name):
                if known.status in (Order.Status.OPEN, Order.Status.PARTIALLY_FILLED):
                    runner._cancel_known(venue, known)
                    if runner.books.known[known.client_order_id].status == "cancelled":
                        cancelled += 1
        runner.books.event("kill", reason, {"cancelled": cancelled})
        runner.books.flush()
    finally:
        runner._close()
    return cancelled
