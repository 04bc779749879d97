"""Session set-up and restore: a runner's venues, its books reconciled, its engine.

Paper: the simulated venue died with the last runner, so it is rebuilt from the books (starting
funds plus every booked fill, then every open order put back on its book). Live: the books are
reconciled with the exchange (trading.runtime.reconcile) before the strategy may act. Then the
strategy's checkpoint is restored (or a fresh signal strategy warmed up on stored candles).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from exchanges.gateway.accounts import gateway_for_account
from exchanges.gateway.ccxt_gateway import CcxtGateway
from marketdata.models import Candle as CandleRow
from marketdata.tasks import history_catch_up
from strategies.selectors import FAMILIES, SYMBOL_FIELDS
from tradecore.domain import (
    Candle,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradecore.engine import TradingEngine
from tradecore.intents import OrderIntent
from tradecore.risk import RiskManager
from tradecore.strategies import get_strategy_class, validate_config
from trading.models import Bot, Order
from trading.realized_costs import instruments_with_realized_fees
from trading.runtime.books import Books, Known
from trading.runtime.db import db_call
from trading.runtime.hub import hub
from trading.runtime.hub import latest_book as redis_latest_book
from trading.runtime.instruments import load_instruments
from trading.runtime.reconcile import live_sync, trades_since_ms
from trading.runtime.signals import RecordingStrategy, state_decode
from trading.runtime.venues import (
    AccountRefused,
    LiveVenue,
    PaperExchange,
)
from trading.services.limits import risk_limits_build
from trading.services.orders import OrderChange, bot_orders_to_restore
from trading.services.reconcile import fill_counts, paper_balances

logger = logging.getLogger(__name__)
S = Bot.Status


PAPER_ACCOUNT = "paper"
WARM_UP_BARS = 300


def _ms(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value else 0


# -- database reads of a session set-up (run through db_call) ----------------------------------
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
    rows = list(
        CandleRow.objects.filter(exchange=exchange, symbol=symbol, timeframe="1m")
        .order_by("-ts")
        .values_list("ts", "open", "high", "low", "close", "volume")[:count]
    )
    return [
        Candle(_ms(ts), float(o), float(h), float(lo), float(c), float(v))
        for ts, o, h, lo, c, v in reversed(rows)
    ]


class SessionSetup:
    """Set up a runner's session: venues, books restored and reconciled, the engine.

    A part of BotRunner (trading.runtime.runner), which holds the state these methods use.
    """

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
        symbols = list(self.bot.symbols)
        for name in SYMBOL_FIELDS.get(self.bot.strategy, ()):
            value = str(self.bot.params.get(name, "")).replace("-", "/")
            if value and value not in symbols:
                symbols.append(value)
        return symbols

    def _instruments(self, exchange: str, symbols: list[str], gateway):
        own = gateway is None
        if own:
            gateway = CcxtGateway(exchange, redis_url=settings.REDIS_URL)
        try:
            instruments = self.loop.run_until_complete(load_instruments(gateway, symbols))
        finally:
            if own:
                self.loop.run_until_complete(gateway.close())
        if FAMILIES.get(self.bot.strategy) == "arbitrage":
            instruments = db_call(instruments_with_realized_fees, exchange, instruments)
        return instruments

    def _live_venue(self, row, symbols: list[str]) -> LiveVenue:
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
            client_order_id=row.client_order_id,
            symbol=row.symbol,
            side=Side(row.side),
            type=OrderType(row.type),
            qty=row.qty - row.filled_qty,
            price=row.price,
            stop_price=row.stop_price,
            tif=TimeInForce(row.time_in_force),
            post_only=row.post_only,
        )
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
        if FAMILIES.get(self.bot.strategy) != "signal":
            return
        strategy.ctx = self.engine.ctx
        exchange = next(iter(self.venues))
        candles = db_call(_recent_candles, exchange, self.bot.symbol, WARM_UP_BARS)
        if len(candles) < WARM_UP_BARS and settings.PEREGRINE_COLLECTOR_HISTORY_BARS:
            # no collector has kept this market's history (yet): fetch it as a collector would
            db_call(history_catch_up, exchange, [self.bot.symbol], WARM_UP_BARS)
            candles = db_call(_recent_candles, exchange, self.bot.symbol, WARM_UP_BARS)
        for candle in candles:
            strategy.on_candle(self.bot.symbol, candle)
