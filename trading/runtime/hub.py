"""Market events and control messages from Redis, fanned out to the bots of this process.

One subscriber thread per worker process follows every `market:{exchange}:{symbol}` channel the
collectors publish on and the bots' control channel. A message is
parsed once, into immutable tradecore objects, and handed to the inbox of each bot that wants
it; a bot that falls behind keeps only the newest book of each market (books replace each
other, trades and candles do not).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import redis

from marketdata.timeframes import MINUTE_MS
from tradecore.domain import Candle, Side, Trade
from tradecore.orderbook import OrderBook
from trading.services.channels import (
    CONTROL_CHANNEL,
    MARKET_PATTERN,
    book_key,
    market_channel,
    redis_client,
)

# the Redis names live below the services, which use them too; re-exported for the runtime
from trading.services.channels import control_publish as control_publish
from trading.services.channels import ticker_key as ticker_key

logger = logging.getLogger(__name__)


def _redis() -> redis.Redis:
    return redis_client()


@dataclass(frozen=True, slots=True)
class BookEvent:
    exchange: str
    symbol: str
    book: OrderBook
    ts_ms: int  # the exchange's time for the book
    received_ms: int


@dataclass(frozen=True, slots=True)
class TradesEvent:
    exchange: str
    symbol: str
    trades: tuple[Trade, ...]
    ts_ms: int
    received_ms: int


@dataclass(frozen=True, slots=True)
class CandleEvent:
    exchange: str
    symbol: str
    candle: Candle
    ts_ms: int
    received_ms: int


@dataclass(frozen=True, slots=True)
class ControlEvent:
    bot_id: int


def parse_market(message: dict, received_ms: int):
    """A collector message as a BookEvent, TradesEvent or CandleEvent (None for others)."""
    kind, exchange, symbol = message.get("type"), message.get("exchange"), message.get("symbol")
    if kind == "book":
        ts = int(message.get("ts") or received_ms)
        book = OrderBook(symbol, message.get("bids") or (), message.get("asks") or (), ts)
        return BookEvent(exchange, symbol, book, ts, received_ms)
    if kind == "trades":
        trades = tuple(
            Trade(
                int(t["ts"]),
                float(t["price"]),
                float(t["amount"]),
                Side.BUY if t.get("side") == "buy" else Side.SELL,
                str(t.get("id", "")),
            )
            for t in message.get("trades") or ()
        )
        if not trades:
            return None
        return TradesEvent(exchange, symbol, trades, trades[-1].ts_ms, received_ms)
    if kind == "candle" and message.get("closed", True) and message.get("timeframe", "1m") == "1m":
        candle = Candle(
            int(message["ts_ms"]),
            float(message["open"]),
            float(message["high"]),
            float(message["low"]),
            float(message["close"]),
            float(message["volume"]),
        )
        # the event's time is the bar's close, when its data came to exist (not its open)
        return CandleEvent(exchange, symbol, candle, candle.ts_ms + MINUTE_MS, received_ms)
    return None


class Inbox:
    """A bot's queue of events; books of one market coalesce while the bot is busy."""

    def __init__(self, bot_id: int) -> None:
        self.bot_id = bot_id
        self._cond = threading.Condition()
        self._events: deque = deque()
        self._books: dict[tuple[str, str], int] = {}  # market -> index of its book in _events
        self.dropped_books = 0

    def put(self, event) -> None:
        with self._cond:
            if isinstance(event, BookEvent):
                key = (event.exchange, event.symbol)
                if key in self._books:
                    # replace the older, unprocessed book in place: only the newest matters
                    index = self._books[key]
                    self._events[index] = event
                    self.dropped_books += 1
                    return
                self._books[key] = len(self._events)
            self._events.append(event)
            self._cond.notify()

    def take(self, timeout: float) -> list:
        """Every pending event, waiting up to `timeout` seconds for the first."""
        with self._cond:
            if not self._events and timeout > 0:
                self._cond.wait(timeout)
            events = list(self._events)
            self._events.clear()
            self._books.clear()
            return events


class MarketHub:
    """The process's one Redis subscriber (started on first use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._markets: dict[str, set[Inbox]] = {}
        self._bots: dict[int, Inbox] = {}
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.received = 0

    def register(self, inbox: Inbox, markets: list[tuple[str, str]]) -> None:
        """Deliver the markets' events and the bot's control messages to `inbox`."""
        with self._lock:
            for exchange, symbol in markets:
                self._markets.setdefault(market_channel(exchange, symbol), set()).add(inbox)
            self._bots[inbox.bot_id] = inbox
        self._ensure_started()

    def unregister(self, inbox: Inbox) -> None:
        with self._lock:
            for inboxes in self._markets.values():
                inboxes.discard(inbox)
            if self._bots.get(inbox.bot_id) is inbox:
                del self._bots[inbox.bot_id]

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._ready.clear()
            self._thread = threading.Thread(target=self._run, name="market-hub", daemon=True)
            self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                pubsub = _redis().pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(MARKET_PATTERN)
                pubsub.subscribe(CONTROL_CHANNEL)
                self._ready.set()
                delay = 0.5
                for message in pubsub.listen():
                    self._dispatch(message)
            except Exception:
                logger.warning(
                    "market hub lost Redis; reconnecting in %.1f s", delay, exc_info=True
                )
                self._ready.set()
                time.sleep(delay)
                delay = min(delay * 2, 10)

    def _dispatch(self, message: dict) -> None:
        if message.get("type") not in ("message", "pmessage"):
            return
        self.received += 1
        channel = message["channel"].decode()
        if channel == CONTROL_CHANNEL:
            with self._lock:
                inbox = self._bots.get(int(message["data"]))
            if inbox is not None:
                inbox.put(ControlEvent(inbox.bot_id))
            return
        with self._lock:
            inboxes = list(self._markets.get(channel, ()))
        if not inboxes:
            return
        received = time.time_ns() // 1_000_000
        try:
            event = parse_market(json.loads(message["data"]), received)
        except (ValueError, KeyError, TypeError):
            logger.warning("unreadable market message on %s", channel, exc_info=True)
            return
        if event is None:
            return
        for inbox in inboxes:
            inbox.put(event)


_hub: MarketHub | None = None
_hub_lock = threading.Lock()


def hub() -> MarketHub:
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = MarketHub()
        return _hub


_reader: redis.Redis | None = None


def latest_book(exchange: str, symbol: str) -> BookEvent | None:
    """The newest book a collector stored for the market, if any."""
    global _reader
    if _reader is None:
        _reader = _redis()
    raw = _reader.get(book_key(exchange, symbol))
    if raw is None:
        return None
    now = time.time_ns() // 1_000_000
    event = parse_market(json.loads(raw), now)
    return event if isinstance(event, BookEvent) else None
