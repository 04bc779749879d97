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
import os
import random
import socket
import threading
import time
from collections import Counter
from concurrent.futures import Future
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError
from redis import RedisError

from exchanges.gateway.errors import Action, GatewayError
from tradecore.clock import WallClock
from tradecore.domain import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradecore.engine import TradingEngine
from tradecore.intents import OrderIntent
from tradecore.order_manager import VenueTimeout
from tradecore.risk import RiskManager
from tradecore.strategies import get_strategy_class, validate_config
from trading import conf
from trading.models import Bot, Order
from trading.realized_costs import instruments_with_realized_fees
from trading.runtime.books import Books, Known
from trading.runtime.db import db_call, db_submit
from trading.runtime.hub import BookEvent, CandleEvent, ControlEvent, Inbox, TradesEvent, hub
from trading.runtime.hub import latest_book as redis_latest_book
from trading.runtime.signals import RecordingStrategy, state_decode, state_encode
from trading.runtime.venues import (
    AccountRefused,
    LiveVenue,
    PaperExchange,
    load_instruments,
)
from trading.services import leases
from trading.services.leases import LeaseLost
from trading.services.orders import OrderChange, bot_orders_to_restore
from trading.services.reconcile import (
    SyncReport,
    fill_counts,
    live_sync,
    paper_balances,
    trades_since_ms,
)

logger = logging.getLogger(__name__)
PAPER_ACCOUNT = "paper"
S = Bot.Status
WIND_DOWN_SECONDS = 10.0
BALANCE_EVERY_POLLS = 5
# a step's changes are written at most this often (live intents are written before sending)
FLUSH_SECONDS = 0.2
# paper: the venue is rebuilt from the books, so what a crash loses is lost on both sides
PAPER_FLUSH_SECONDS = 1.0
RENEWAL_LOOK_SECONDS = 0.05
TRADES_EVERY_POLLS = 10  # and whenever an order filled more than is booked
WARM_UP_BARS = 300


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _ms(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value else 0


# -- database reads of the runner (run through db_call) --------------------------------------
def _load_bot(bot_id: int) -> Bot | None:
    bot = Bot.objects.select_related("user").filter(pk=bot_id).first()
    if bot is not None:
        bot.venue_rows = list(bot.venues.select_related("exchange_account").order_by("position"))
        for row in bot.venue_rows:
            row.bot = bot
    return bot


def _restore_rows(bot_id: int) -> tuple[list[Order], dict[int, tuple]]:
    rows = bot_orders_to_restore(bot_id=bot_id)
    return rows, fill_counts(bot_id, [r.pk for r in rows])


def _recent_candles(exchange: str, symbol: str, count: int):
    from marketdata.models import Candle as CandleRow
    from tradecore.domain import Candle

    rows = list(
        CandleRow.objects.filter(exchange=exchange, symbol=symbol, timeframe="1m")
        .order_by("-ts")
        .values_list("ts", "open", "high", "low", "close", "volume")[:count]
    )
    return [
        Candle(_ms(ts), float(o), float(h), float(lo), float(c), float(v))
        for ts, o, h, lo, c, v in reversed(rows)
    ]


class BotRunner:
    """Runs one slice of one bot's loop on the calling thread."""

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

    # -- the slice -------------------------------------------------------------------------
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
                logger.warning("bot %s: runner stopped on %r; the supervisor resumes it",
                               self.bot_id, exc)  # fmt: skip
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
        from trading.services.bots import risk_limits_build

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

    # -- building --------------------------------------------------------------------------
    def _build_venues(self) -> None:
        bot = self.bot
        self.loop = asyncio.new_event_loop()
        paper = not bot.is_live
        self.books = Books(
            bot,
            self.token,
            paper=paper,
            account_keys={row.exchange: row.account_key for row in bot.venue_rows},
        )
        symbols = self._symbols()
        for row in bot.venue_rows:
            self.symbols_on[row.exchange] = symbols
            if paper:
                instruments = self._instruments(row.exchange, symbols, None)
                venue = PaperExchange(
                    row.exchange, instruments.values(), clock=self.clock, recorder=self.books
                )
                venue.subscribe(self.books.paper_fill)
                venue.subscribe_orders(lambda o, name=row.exchange: self.books.order_seen(name, o))
            else:
                venue = self._live_venue(row, symbols)
            self.venues[row.exchange] = venue
        self.books.reference_price = self._mid

    def _mid(self, exchange: str, symbol: str) -> Decimal | None:
        """The mid of the venue's book as the bot decides (an order's slippage reference)."""
        venue = self.venues.get(exchange)
        book = venue.book(symbol) if venue is not None else None
        return book.mid() if book is not None else None

    def _symbols(self) -> list[str]:
        from strategies.selectors import SYMBOL_FIELDS

        symbols = list(self.bot.symbols)
        for name in SYMBOL_FIELDS.get(self.bot.strategy, ()):
            value = str(self.bot.params.get(name, "")).replace("-", "/")
            if value and value not in symbols:
                symbols.append(value)
        return symbols

    def _instruments(self, exchange: str, symbols: list[str], gateway):
        from exchanges.gateway.ccxt_gateway import CcxtGateway

        own = gateway is None
        if own:
            gateway = CcxtGateway(exchange, redis_url=settings.REDIS_URL)
        try:
            instruments = self.loop.run_until_complete(load_instruments(gateway, symbols))
        finally:
            if own:
                self.loop.run_until_complete(gateway.close())
        from strategies.selectors import FAMILIES

        if FAMILIES.get(self.bot.strategy) == "arbitrage":
            instruments = db_call(instruments_with_realized_fees, exchange, instruments)
        return instruments

    def _live_venue(self, row, symbols: list[str]) -> LiveVenue:
        from exchanges.gateway.accounts import gateway_for_account

        account = row.exchange_account
        if account is None or not account.is_live:
            raise AccountRefused(f"{row.exchange}: a live bot needs a live exchange account")
        if not account.is_active:
            raise AccountRefused(f"{account.label} is disabled: {account.disabled_reason}")
        gateway = gateway_for_account(account)
        instruments = self._instruments(row.exchange, symbols, gateway)
        self.books.account_ids[row.exchange] = account.pk
        return LiveVenue(
            row.exchange,
            gateway,
            instruments,
            loop=self.loop,
            recorder=self.books,
            account_id=str(account.pk),
        )

    def _restore_books(self) -> None:
        """Load what the books hold as active, then reconcile it with the venues."""
        rows, counts = db_call(_restore_rows, self.bot_id)
        for row in rows:
            self.rows[row.client_order_id] = row
            count, booked = counts.get(row.pk, (0, Decimal(0)))
            self.books.adopt_known(Known.from_row(row, count, booked))
            venue = self.venues.get(row.exchange)
            if isinstance(venue, LiveVenue):
                venue.remember_symbol(row.client_order_id, row.symbol)
        if self.books.paper:
            self._paper_rebuild()
        else:
            since = trades_since_ms(self.books)
            for name, venue in self.venues.items():
                report = live_sync(
                    self.books, venue, self.symbols_on[name], since_ms=since, source="reconcile"
                )
                self.reconcile_report.merge(report)
                self.trade_since[name] = (report.newest_trade_ms or since) - 2000
                venue.refresh_balances()
                self._keep_lease()
        summary = self.reconcile_report.summary()
        self.books.event(
            "reconcile",
            f"Reconciled: {self.reconcile_report.describe()}",
            {**summary, "token": self.token},
        )
        self.books.flush()

    def _paper_rebuild(self) -> None:
        balances = db_call(paper_balances, self.bot)
        for exchange, assets in balances.items():
            venue = self.venues.get(exchange)
            for asset, amount in assets.items():
                if venue is not None and amount > 0:
                    venue.deposit(PAPER_ACCOUNT, asset, amount)
        for known in self.books.active():
            row = self.rows[known.client_order_id]
            if known.status in (Order.Status.NEW, Order.Status.UNKNOWN):
                self.books._note(
                    known.client_order_id,
                    OrderChange(
                        status=Order.Status.REJECTED,
                        reason="never reached the paper venue: the runner restarted first",
                    ),
                )
                continue
            self._paper_restore(known, row)

    def _paper_restore(self, known: Known, row: Order) -> None:
        venue = self.venues[row.exchange]
        request = OrderRequest(
            row.client_order_id, row.symbol, Side(row.side), OrderType(row.type),
            row.qty - row.filled_qty, row.price, row.stop_price, TimeInForce(row.time_in_force),
            row.post_only,
        )  # fmt: skip
        order = venue.restore_order(PAPER_ACCOUNT, request)
        if order.status is OrderStatus.REJECTED:
            self.books._note(
                known.client_order_id,
                OrderChange(status=Order.Status.CANCELLED, reason=f"not restored: {order.reason}"),
            )
            return
        known.base_filled, known.base_fee = row.filled_qty, row.fee
        known.base_notional = (row.avg_price or Decimal(0)) * row.filled_qty
        self.reconcile_report.resolved.append(known.client_order_id)

    def _build_engine(self) -> None:
        bot = self.bot
        config = validate_config(bot.strategy, bot.params)
        strategy = get_strategy_class(bot.strategy)(config, symbol=bot.symbol)
        if bot.strategy_state:
            strategy.restore(state_decode(bot.strategy_state))
        self.strategy = RecordingStrategy(strategy, self.books, self.clock)
        from trading.services.bots import risk_limits_build

        risk = RiskManager(risk_limits_build(bot))
        if bot.risk_state:
            risk.restore(bot.risk_state)
        self.engine = TradingEngine(
            self.strategy,
            self.venues,
            clock=self.clock,
            account_id=PAPER_ACCOUNT if self.books.paper else "live",
            risk=risk,
            id_prefix=f"{bot.client_id_prefix}{self.token}",
        )
        self.books.order_manager = self.engine.om
        self._track_restored()
        if bot.strategy_state:
            strategy.ctx = self.engine.ctx
        else:
            self._warm_up(strategy)
            self.engine.start()
        for name, symbols in self.symbols_on.items():
            for symbol in symbols:
                event = redis_latest_book(name, symbol)
                if event is not None:
                    self._on_book(event)
        for draft in self.reconcile_report.new_fills:
            self._feed_fill(draft)
        hub().register(self.inbox, [(n, s) for n, syms in self.symbols_on.items() for s in syms])
        self._registered = True

    def _track_restored(self) -> None:
        """Give the order manager every order the books hold as active."""
        om = self.engine.om
        paper = self.books.paper
        for known in self.books.active():
            row = self.rows.get(known.client_order_id)
            qty = known.qty - (row.filled_qty if (row and paper) else 0)
            intent = OrderIntent(
                symbol=known.symbol,
                side=Side(known.side),
                type=OrderType(row.type) if row else OrderType.LIMIT,
                qty=qty,
                price=row.price if row else None,
                tif=TimeInForce(row.time_in_force) if row else TimeInForce.GTC,
                venue=known.exchange,
                tag=known.tag,
            )
            om.adopt(
                client_order_id=known.client_order_id,
                venue=known.exchange,
                intent=intent,
                status=OrderStatus(known.status),  # a NEW one's send may have happened: UNKNOWN
                filled_qty=Decimal(0) if paper else known.filled_qty,
                level=known.level,
                created_ms=_ms(known.created_at),
            )

    def _warm_up(self, strategy) -> None:
        """Give a fresh signal strategy its indicator history (intents are discarded)."""
        from strategies.selectors import FAMILIES

        if FAMILIES.get(self.bot.strategy) != "signal":
            return
        strategy.ctx = self.engine.ctx
        exchange = next(iter(self.venues))
        candles = db_call(_recent_candles, exchange, self.bot.symbol, WARM_UP_BARS)
        if len(candles) < WARM_UP_BARS and settings.PEREGRINE_COLLECTOR_HISTORY_BARS:
            # no collector has kept this market's history (yet): fetch it as a collector would
            from marketdata.tasks import history_catch_up

            db_call(history_catch_up, exchange, [self.bot.symbol], WARM_UP_BARS)
            candles = db_call(_recent_candles, exchange, self.bot.symbol, WARM_UP_BARS)
        for candle in candles:
            strategy.on_candle(self.bot.symbol, candle)

    # -- the loop --------------------------------------------------------------------------
    def _loop(self) -> str:
        # slices of bots started together would all end together: spread their hand-overs
        slice_seconds = conf.get("PEREGRINE_BOT_SLICE_SECONDS") * random.uniform(0.8, 1.2)
        ttl = conf.get("PEREGRINE_BOT_LEASE_SECONDS")
        poll = conf.get("PEREGRINE_BOT_POLL_SECONDS")
        checkpoint_every = conf.get("PEREGRINE_BOT_CHECKPOINT_SECONDS")
        timer = self.bot.timer_ms / 1000
        now = time.monotonic()
        self.stats["start_ms"] = round((now - self._began) * 1000)
        deadline = now + slice_seconds
        # periodic work starts at a random phase: bots started together must not write together
        jitter = random.random()
        next_timer, next_renew = now, now + ttl / 3 * jitter
        next_poll = now + poll * jitter
        next_checkpoint = now + checkpoint_every * jitter
        next_flush = now + PAPER_FLUSH_SECONDS * jitter
        started = now
        while True:
            now = time.monotonic()
            if now >= deadline or _draining.is_set():
                break
            wake = min(next_timer, next_renew, deadline)
            if self._renewal is not None:  # its answer may change the status: look again soon
                wake = min(wake, now + RENEWAL_LOOK_SECONDS)
            if not self.books.paper:
                wake = min(wake, next_poll)
            if self.books.batch:
                wake = min(wake, next_flush)
            events = self.inbox.take(max(0.0, wake - now))
            busy = time.monotonic()
            for event in events:
                self._on_event(event)
            now = time.monotonic()
            if now >= next_timer:
                self._on_timer(self.clock.now_ms())
                next_timer = max(next_timer + timer, now)
            done = time.monotonic()
            self.stats["max_busy_ms"] = max(self.stats["max_busy_ms"], round((done - busy) * 1000))
            if not self.books.paper and now >= next_poll:
                self._poll()
                next_poll = now + poll
            if self._renewal is not None and self._renewal.done():
                self._renewal_collect()
            if (now >= next_renew or self._status_dirty) and self._renewal is None:
                if self.books.paper:
                    self._renew_behind(ttl)
                else:  # a live runner stops sending while its lease is in doubt
                    self._renew(ttl)
                next_renew = now + ttl / 3
            if self.books.batch.fills or now >= next_checkpoint:
                self._checkpoint()
                next_checkpoint = now + checkpoint_every
            if now >= next_flush or self.status != S.RUNNING:
                if self.books.paper and self.status == S.RUNNING:
                    self.books.flush_behind()
                else:
                    self.books.flush()
                next_flush = now + (PAPER_FLUSH_SECONDS if self.books.paper else FLUSH_SECONDS)
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
        return self._hand_over(ttl)

    def _on_event(self, event) -> None:
        if isinstance(event, ControlEvent):
            self._status_dirty = True
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

    def _on_timer(self, now_ms: int) -> None:
        self.books.trigger_ms = now_ms
        self.stats["timers"] += 1
        self.engine.on_timer()
        venue = next(iter(self.venues))
        for trip in self.engine.check_guards(self.bot.symbol, venue):
            self.books.event("risk", trip.reason, {"rule": trip.rule, "action": trip.action})
            if trip.action == "halt":
                from trading.services.risk import bot_risk_breach

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

    # -- status ----------------------------------------------------------------------------
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

    def _on_status_change(self) -> str:
        if self.status == S.PAUSED:
            return self._wind_down(S.PAUSED)
        if self.status == S.STOPPING:
            return self._wind_down(S.STOPPED)
        return self._wind_down(self.status)

    def _cancel_everything(self) -> None:
        self.engine.om.cancel_all()
        if self.books.paper:
            return
        deadline = time.monotonic() + WIND_DOWN_SECONDS
        while time.monotonic() < deadline:
            self.books.flush()
            self._poll()
            if not self.books.active():
                return
            self.engine.om.cancel_all()
            time.sleep(0.2)

    def _wind_down(self, target: str) -> str:
        """Pause or stop: cancel every order, checkpoint, give the lease up."""
        if target == S.STOPPED and self.engine is not None:
            self.engine.stop()
        if self.engine is not None:
            self._cancel_everything()
            self._checkpoint()
        self.books.flush()
        if target == S.STOPPED:
            left = len(self.books.active())
            note = f" ({left} orders could not be confirmed cancelled yet)" if left else ""
            self._transition(S.STOPPED, f"Stopped; every order cancelled{note}.", (S.STOPPING,))
        self._release()
        return target

    def _leftovers(self) -> str:
        """A bot that should not trade: cancel anything it still has open, then let go."""
        if self.books.active():
            for name, venue in self.venues.items():
                for known in self.books.active(name):
                    if known.status in (Order.Status.OPEN, Order.Status.PARTIALLY_FILLED):
                        self._cancel_known(venue, known)
            self.books.flush()
        self._release()
        return "idle"

    def _cancel_known(self, venue, known: Known) -> None:
        from tradecore.order_manager import VenueTimeout

        try:
            if isinstance(venue, PaperExchange):
                venue.cancel_order(PAPER_ACCOUNT, client_order_id=known.client_order_id)
            else:
                venue.cancel_order(None, client_order_id=known.client_order_id)
        except (VenueTimeout, KeyError) as exc:
            logger.info("cancel of %s not confirmed: %s", known.client_order_id, exc)

    def _transition(self, status: str, reason: str, allowed_from: tuple[str, ...]) -> Bot:
        from trading.services.bots import bot_runtime_transition

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
        from trading.services.bots import bot_dispatch_next

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

    def _release(self) -> None:
        from trading.services.bots import bot_lease_release

        db_call(bot_lease_release, bot_id=self.bot_id, token=self.token)

    def _fail(self, message: str) -> None:
        from trading.services.bots import bot_fail

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


# Set when the worker shuts down warmly: every loop of the process ends its slice at once and
# hands its bot over (the next slice runs on another worker, or on this one once restarted).
_draining = threading.Event()


def drain() -> None:
    """End every slice of this process now, handing each bot over as at a slice's end."""
    _draining.set()


# Runners whose slice ended, waiting for their next slice on this process (bot id ->
# (token, runner, parked at)). One that waits longer than two lease periods was taken up
# elsewhere (or not at all) and is closed.
_parked: dict[int, tuple[int, BotRunner, float]] = {}
_parked_lock = threading.Lock()


def _park(runner: BotRunner) -> None:
    with _parked_lock:
        previous = _parked.pop(runner.bot_id, None)
        _parked[runner.bot_id] = (runner.token, runner, time.monotonic())
    if previous is not None and previous[1] is not runner:
        previous[1]._close()


def _unpark(bot_id: int, handover_token: int | None) -> BotRunner | None:
    limit = 2 * conf.get("PEREGRINE_BOT_LEASE_SECONDS")
    now = time.monotonic()
    stale = []
    with _parked_lock:
        entry = _parked.pop(bot_id, None)
        for other_id, (_, _runner, parked_at) in list(_parked.items()):
            if now - parked_at > limit:
                stale.append(_parked.pop(other_id)[1])
    for runner in stale:
        runner._close()
    if entry is None:
        return None
    token, runner, parked_at = entry
    if handover_token is not None and token == handover_token and not runner.closed:
        runner.gaps = {  # reported with the next slice: how long the bot was not trading
            "queued_ms": round((now - parked_at) * 1000),
            "gap_ms": round((now - runner.loop_ended) * 1000),
        }
        return runner
    runner._close()
    return None


def parked_close_all() -> None:
    """Close every parked runner (tests; a worker shutting down)."""
    with _parked_lock:
        runners = [entry[1] for entry in _parked.values()]
        _parked.clear()
    for runner in runners:
        runner._close()


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
