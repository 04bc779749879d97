"""The slice loop of a runner: trade on market events and timers until the slice ends.

Every step's changes are written in one fenced transaction (paper: behind, at most every
PAPER_FLUSH_SECONDS); the lease is renewed every third of its period (which also reads the
bot's status); a live runner polls its exchange (reconciliation) every PEREGRINE_BOT_POLL_SECONDS.
At the slice's end the runner checkpoints, parks on this process and enqueues its next slice.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass

from exchanges.gateway.errors import Action, GatewayError
from tradecore.domain import (
    Fill,
    OrderStatus,
    Side,
)
from trading import conf
from trading.models import Bot
from trading.runtime.db import db_call, db_submit
from trading.runtime.hub import BookEvent, CandleEvent, ControlEvent, TradesEvent
from trading.runtime.parking import _park, _unpark
from trading.runtime.reconcile import live_sync
from trading.runtime.signals import state_encode
from trading.runtime.venues import (
    AccountRefused,
    PaperExchange,
)
from trading.services import leases
from trading.services.bots import (
    bot_dispatch_next,
)
from trading.services.risk import bot_risk_breach
from trading.services.webhooks import STRATEGY as WEBHOOK_STRATEGY
from trading.services.webhooks import webhook_signal_outcome, webhook_signals_take

logger = logging.getLogger(__name__)
S = Bot.Status


BALANCE_EVERY_POLLS = 5
# a step's changes are written at most this often (live intents are written before sending)
FLUSH_SECONDS = 0.2
# paper: the venue is rebuilt from the books, so what a crash loses is lost on both sides
PAPER_FLUSH_SECONDS = 1.0
RENEWAL_LOOK_SECONDS = 0.05
TRADES_EVERY_POLLS = 10  # and whenever an order filled more than is booked

# Set when the worker shuts down warmly: every loop of the process ends its slice at once and
# hands its bot over (the next slice runs on another worker, or on this one once restarted).
_draining = threading.Event()


def drain() -> None:
    """End every slice of this process now, handing each bot over as at a slice's end."""
    _draining.set()


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass
class _Schedule:
    """When the loop's periodic work is next due (monotonic seconds), and its periods."""

    timer: float
    ttl: float
    poll: float
    checkpoint: float
    next_timer: float
    next_renew: float
    next_poll: float
    next_checkpoint: float
    next_flush: float

    @classmethod
    def starting(cls, now: float, *, timer: float) -> _Schedule:
        ttl = conf.get("PEREGRINE_BOT_LEASE_SECONDS")
        poll = conf.get("PEREGRINE_BOT_POLL_SECONDS")
        checkpoint = conf.get("PEREGRINE_BOT_CHECKPOINT_SECONDS")
        # periodic work starts at a random phase: bots started together must not write together
        jitter = random.random()
        return cls(
            timer=timer,
            ttl=ttl,
            poll=poll,
            checkpoint=checkpoint,
            next_timer=now,
            next_renew=now + ttl / 3 * jitter,
            next_poll=now + poll * jitter,
            next_checkpoint=now + checkpoint * jitter,
            next_flush=now + PAPER_FLUSH_SECONDS * jitter,
        )


class SliceLoop:
    """The slice loop: market events, timers, polls, lease renewals, checkpoints, hand-over.

    A part of BotRunner (trading.runtime.runner), which holds the state these methods use.
    """

    def _loop(self) -> str:
        # slices of bots started together would all end together: spread their hand-overs
        slice_seconds = conf.get("PEREGRINE_BOT_SLICE_SECONDS") * random.uniform(0.8, 1.2)
        now = time.monotonic()
        self.stats["start_ms"] = round((now - self._began) * 1000)
        deadline = now + slice_seconds
        plan = _Schedule.starting(now, timer=self.bot.timer_ms / 1000)
        started = now
        self._take_alerts()  # alerts posted while no slice ran
        while True:
            now = time.monotonic()
            if now >= deadline or _draining.is_set():
                break
            events = self.inbox.take(max(0.0, self._wake_at(plan, now, deadline) - now))
            busy = time.monotonic()
            for event in events:
                self._on_event(event)
            now = time.monotonic()
            if now >= plan.next_timer:
                self._on_timer(self.clock.now_ms())
                plan.next_timer = max(plan.next_timer + plan.timer, now)
            done = time.monotonic()
            self.stats["max_busy_ms"] = max(self.stats["max_busy_ms"], round((done - busy) * 1000))
            self._periodic(plan, now)
            waited = round((time.monotonic() - done) * 1000)
            self.stats["max_db_ms"] = max(self.stats["max_db_ms"], waited)
            if self.status == S.STARTING:  # paused and resumed between two renewals
                self._transition(S.RUNNING, "Running again.", (S.STARTING,))
            if self.status != S.RUNNING:
                self._renewal_collect()
                return self._on_status_change()
        self.stats["seconds"] = time.monotonic() - started
        self.loop_ended = time.monotonic()
        self._renewal_collect()
        return self._hand_over(plan.ttl)

    def _wake_at(self, plan: _Schedule, now: float, deadline: float) -> float:
        """When the loop must look again, whatever the market does."""
        wake = min(plan.next_timer, plan.next_renew, deadline)
        if self._renewal is not None:  # its answer may change the status: look again soon
            wake = min(wake, now + RENEWAL_LOOK_SECONDS)
        if not self.books.paper:
            wake = min(wake, plan.next_poll)
        if self.books.batch:
            wake = min(wake, plan.next_flush)
        return wake

    def _periodic(self, plan: _Schedule, now: float) -> None:
        """The work due now: poll (live), renew the lease, checkpoint, write the books."""
        if not self.books.paper and now >= plan.next_poll:
            self._poll()
            plan.next_poll = now + plan.poll
        if self._renewal is not None and self._renewal.done():
            self._renewal_collect()
        if (now >= plan.next_renew or self._status_dirty) and self._renewal is None:
            if self.books.paper:
                self._renew_behind(plan.ttl)
            else:  # a live runner stops sending while its lease is in doubt
                self._renew(plan.ttl)
            plan.next_renew = now + plan.ttl / 3
        if self.books.batch.fills or now >= plan.next_checkpoint:
            self._checkpoint()
            plan.next_checkpoint = now + plan.checkpoint
        if now >= plan.next_flush or self.status != S.RUNNING:
            if self.books.paper and self.status == S.RUNNING:
                self.books.flush_behind()
            else:
                self.books.flush()
            plan.next_flush = now + (PAPER_FLUSH_SECONDS if self.books.paper else FLUSH_SECONDS)

    def _on_event(self, event) -> None:
        if isinstance(event, ControlEvent):
            self._status_dirty = True
            self._take_alerts()
            return
        venue = self.venues.get(event.exchange)
        if venue is None:
            return
        self.books.trigger_ms = event.ts_ms
        lag = self.clock.now_ms() - event.received_ms
        self.stats["max_lag_ms"] = max(self.stats["max_lag_ms"], lag)
        feed = event.received_ms - event.ts_ms
        self.stats["max_feed_ms"] = max(self.stats["max_feed_ms"], feed)
        self.stats["events"] += 1
        if isinstance(event, BookEvent):
            self._on_book(event)
        elif isinstance(event, TradesEvent):
            for trade in event.trades:
                if isinstance(venue, PaperExchange):
                    venue.on_trade(event.symbol, trade)
                else:
                    venue.on_trade_price(event.symbol, trade.price)
                self.engine.on_trade(event.symbol, trade)
        elif isinstance(event, CandleEvent):
            self.engine.on_candle(event.symbol, event.candle)

    def _on_book(self, event: BookEvent) -> None:
        venue = self.venues.get(event.exchange)
        if venue is None or event.symbol not in self.symbols_on.get(event.exchange, ()):
            return
        self.books.trigger_ms = event.ts_ms
        venue.on_book(event.symbol, event.book)
        if self.engine is not None:
            self.engine.on_book(event.symbol, event.book, event.exchange)

    def _take_alerts(self) -> None:
        """Hand the alerts posted to the bot's webhook to its strategy (services.webhooks)."""
        if self.bot.strategy != WEBHOOK_STRATEGY or self.status != S.RUNNING:
            return
        for alert in db_call(webhook_signals_take, bot_id=self.bot_id):
            self.books.trigger_ms = self.clock.now_ms()
            self.engine.on_signal(alert.action, alert.qty)
            outcome = getattr(self.strategy, "last_outcome", "") or "no action"
            size = f" {alert.qty.normalize():f}" if alert.qty is not None else ""
            self.books.event(
                "webhook",
                f"Alert '{alert.action}{size}' from the webhook: {outcome}.",
                {"signal": alert.pk, "action": alert.action, "outcome": outcome},
            )
            db_call(webhook_signal_outcome, signal_id=alert.pk, outcome=outcome)

    def _on_timer(self, now_ms: int) -> None:
        self.books.trigger_ms = now_ms
        self.stats["timers"] += 1
        self.engine.on_timer()
        venue = next(iter(self.venues))
        for trip in self.engine.check_guards(self.bot.symbol, venue):
            self.books.event("risk", trip.reason, {"rule": trip.rule, "action": trip.action})
            if trip.action == "halt":
                self.books.flush()
                db_call(bot_risk_breach, bot_id=self.bot_id, rule=trip.rule, message=trip.reason)
                self._status_dirty = True

    def _poll(self) -> None:
        self.stats["polls"] += 1
        for name, venue in self.venues.items():
            try:
                report = live_sync(
                    self.books,
                    venue,
                    self.symbols_on[name],
                    since_ms=self.trade_since.get(name),
                    source="poll",
                    trades=self.stats["polls"] % TRADES_EVERY_POLLS == 0,
                )
            except GatewayError as exc:
                if exc.action is Action.DISABLE_KEY:
                    raise AccountRefused(str(exc)) from exc
                self.stats["poll_failures"] += 1  # unavailable for now: the next poll retries
                logger.info("bot %s: poll of %s failed: %s", self.bot_id, name, exc)
                continue
            if report.newest_trade_ms:
                self.trade_since[name] = report.newest_trade_ms - 2000
            for order in report.snapshots:
                self.engine.om.apply_snapshot(order)  # the exchange's word, also on filled qty
            for cid in report.lost:
                self.engine.om.mark_lost(cid, "the exchange never received it")
            for draft in report.new_fills:
                self._feed_fill(draft)
            if report.new_fills or self.stats["polls"] % BALANCE_EVERY_POLLS == 0:
                venue.refresh_balances()

    def _feed_fill(self, draft) -> None:
        known = self.books.known.get(draft.client_order_id)
        status = None
        if known is not None:
            known.booked_qty += draft.qty
            full = known.qty > 0 and known.booked_qty >= known.qty
            status = OrderStatus.FILLED if full else OrderStatus.PARTIALLY_FILLED
        fill = Fill(
            trade_id=draft.trade_id,
            order_id=known.exchange_order_id if known else "",
            client_order_id=draft.client_order_id,
            symbol=draft.symbol,
            side=Side(draft.side),
            price=draft.price,
            qty=draft.qty,
            fee=draft.fee,
            fee_asset=draft.fee_asset,
            liquidity=draft.liquidity or "taker",
            ts=draft.ts_ms,
            account_id="live",
            venue=draft.exchange,
            order_status=status,
        )
        self.stats["fills"] += 1
        self.engine.on_fill(fill)

    def _keep_lease(self) -> None:
        """Renew between the slow steps of a start (markets, reconciliation, warm-up)."""
        ttl = conf.get("PEREGRINE_BOT_LEASE_SECONDS")
        if self.token is not None and time.monotonic() - self._renewed >= ttl / 3:
            self._renew(ttl)

    def _renew(self, ttl: float) -> None:
        self._renewal_collect()
        renewal = db_call(leases.lease_renew, bot_id=self.bot_id, token=self.token, ttl_seconds=ttl)
        self._renewed = time.monotonic()
        self._status_dirty = False
        self.status = renewal.status

    def _renew_behind(self, ttl: float) -> None:
        """Paper: renew without waiting; the loop collects the answer (and status) when it is in.

        A paper runner's orders go to its own simulated venue, and every write of the books
        checks the token in its transaction, so one whose lease moved on is refused there and
        what it did since is lost on both sides alike. A live runner waits for its renewals: it
        must not reach the exchange while its lease is in doubt.
        """
        self._status_dirty = False  # a control message from now on asks for another renewal
        self._renewal_sent = time.monotonic()
        self._renewal = db_submit(
            leases.lease_renew, bot_id=self.bot_id, token=self.token, ttl_seconds=ttl
        )

    def _renewal_collect(self) -> None:
        """The answer of the renewal in flight, if any (LeaseLost if the lease moved on)."""
        renewal, self._renewal = self._renewal, None
        if renewal is None:
            return
        self.status = renewal.result().status
        self._renewed = self._renewal_sent

    def _checkpoint(self) -> None:
        if self.strategy is None:
            return
        self.books.checkpoint(
            state_encode(self.strategy.inner.snapshot()), state_encode(self.engine.risk.snapshot())
        )

    def _prune(self) -> None:
        """Forget what the books already hold, so a runner that lives for days stays small."""
        om = self.engine.om
        om.forget_finished()
        self.engine.fills.clear()
        settled = self.books.forget_settled()
        working = frozenset(om.orders)  # what the order manager still tracks stays askable
        for venue in self.venues.values():
            if isinstance(venue, PaperExchange):
                venue.forget_finished(keep=working)
            else:
                venue.forget([cid for cid in settled if cid not in working])

    def _hand_over(self, ttl: float) -> str:
        self._prune()
        self._checkpoint()
        self.stats["dropped_books"] = self.inbox.dropped_books
        self.stats["orders"] = self.books.sent
        data = {**self.stats, "holder": _holder(), "token": self.token}
        self.books.event("slice", "Slice ended; next slice enqueued.", data)
        self.books.flush()
        bot_id, token = self.bot_id, self.token
        # parked before the next slice exists, so that slice finds it; from here on this thread
        # does not touch the runner (unless the next slice could not be enqueued)
        _park(self)
        try:
            db_call(bot_dispatch_next, bot_id=bot_id, token=token, grace_seconds=ttl)
        except Exception:
            _unpark(bot_id, token)
            raise
        return "continued"
