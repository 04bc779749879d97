"""Collectors: trades, book and ticker of one exchange's markets into candles, Redis and Postgres.

Streams through ccxt.pro (watch_trades, watch_order_book, watch_ticker) where the exchange has
them, REST polling otherwise. Each stream reconnects on failure after 1, 2, 4 ... 60 s. Trades
build 1m bars (marketdata.aggregation.CandleBuilder); a bar is written when its minute ends
(by the clock, without waiting for the next trade), longer bars are derived at once, and a
late trade for a written bar rewrites it. The minute of the first trade seen is partial: the
exchange's own bar of that minute is fetched and written in its place once it closes, so a
new slice or a restart leaves no hole for the bots following the bars.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import close_old_connections

from exchanges.gateway import clients
from marketdata.aggregation import Bar, CandleBuilder
from marketdata.publish import MarketPublisher
from marketdata.timeframes import MINUTE_MS

logger = logging.getLogger(__name__)
BACKOFF_START, BACKOFF_MAX = 1.0, 60.0
STOP_SECONDS = 10.0  # each step of stopping waits at most this long
# after the partial first minute closes: when to ask the exchange for its own bar of it
EXCHANGE_BAR_DELAYS = (1.0, 2.0, 4.0, 8.0)


def backoff_delays():
    """1, 2, 4, 8 ... 60, 60 ... seconds."""
    delay = BACKOFF_START
    while True:
        yield delay
        delay = min(delay * 2, BACKOFF_MAX)


def _write_bar(exchange: str, symbol: str, bar: Bar, clock: Callable[[], float]) -> float:
    from marketdata.services.candles import candle_upsert

    close_old_connections()
    candle_upsert(exchange=exchange, symbol=symbol, timeframe="1m", bars=[bar])
    return clock()


def _derive(exchange: str, symbol: str, ts_ms: int) -> None:
    from marketdata.services.candles import candle_derive_all

    close_old_connections()
    candle_derive_all(exchange=exchange, symbol=symbol, start_ms=ts_ms, end_ms=ts_ms + MINUTE_MS)


def _close_connection() -> None:
    from django.db import connection

    connection.close()


class Collector:
    """Collect `symbols` of `exchange_id` until stopped (or for `run(seconds=...)`)."""

    def __init__(
        self,
        exchange_id: str,
        symbols: list[str],
        *,
        redis_client,
        sandbox_url: str | None = None,
        mode: str = "auto",
        poll_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        heartbeat: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.exchange_id = exchange_id
        self.symbols = symbols
        self.sandbox_url = sandbox_url
        self.publisher = MarketPublisher(redis_client, exchange_id)
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.heartbeat = heartbeat
        self.rest = clients.async_client(exchange_id, sandbox_url=sandbox_url)
        self.pro = None
        if mode in ("auto", "stream"):
            pro = clients.pro_client(exchange_id, sandbox_url=sandbox_url)
            if pro is not None and pro.has.get("watchTrades"):
                self.pro = pro
            elif mode == "stream":
                raise ValueError(f"{exchange_id} has no websocket streams")
        self.mode = "stream" if self.pro is not None else "poll"
        self.first_full_bar: dict[str, int] = {}  # per symbol: the bar after the first trade's
        self.builders = {s: CandleBuilder() for s in symbols}
        self.last_closed: dict[str, Bar] = {}
        self.last_trade_id: dict[str, int] = {}
        self.last_price: dict[str, float] = {}
        self.reconnects = 0
        self.corrections = 0  # closed bars rewritten for trades that arrived after the close
        self.exchange_bars = 0  # partial first minutes replaced by the exchange's own bar
        self.bar_latencies: list[float] = []  # seconds from bar end to row committed
        self.on_bar: Callable[[str, Bar, float], None] | None = None
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector-db")
        # 5m..1d are derived on their own connection, off the 1m write's critical path
        self._derive_db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collector-derive")
        self._writing: dict[Future, tuple[str, Bar]] = {}  # 1m writes handed over, not yet done
        self.unwritten: list[tuple[str, Bar]] = []  # what close() could not confirm written
        self._stopping = False
        self._side_tasks: set[asyncio.Task] = set()  # exchange bars standing in for partial ones

    async def run(self, seconds: float | None = None) -> None:
        tasks = [asyncio.create_task(self._clock_loop())]
        for symbol in self.symbols:
            tasks.append(
                asyncio.create_task(self._supervise(f"trades {symbol}", self._trades, symbol))
            )
            tasks.append(asyncio.create_task(self._supervise(f"book {symbol}", self._book, symbol)))
        try:
            await asyncio.wait(tasks, timeout=seconds)
        finally:
            await self._stop(tasks)

    async def _stop(self, tasks: list[asyncio.Task]) -> None:
        """Cancel the loops, close the exchange clients, let the handed-over writes finish.

        A cancellation can be lost: on Python 3.11 asyncio.wait_for, through which redis-py
        sends a command, swallows one that lands as the command completes, and the loop goes
        on to its next watch. So the loops also end on `_stopping`, every wait is bounded, and
        closing the exchange clients ends a watch still waiting.
        """
        self._stopping = True
        tasks = [*tasks, *self._side_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=STOP_SECONDS)
        try:
            await self.close()
        finally:
            stuck = [task for task in tasks if not task.done()]
            if stuck:
                for task in stuck:
                    task.cancel()
                await asyncio.wait(stuck, timeout=STOP_SECONDS)
            for task in stuck:
                if not task.done():
                    logger.error("%s: a collector loop did not stop: %r", self.exchange_id, task)

    async def close(self) -> None:
        """Close the exchange clients, then the database threads once their writes are done.

        A bar handed to the database thread is written even if the loop that built it was
        cancelled; one not written within STOP_SECONDS is logged and kept in `unwritten`.
        """
        for client in (self.rest, self.pro):
            if client is None:
                continue
            try:
                await asyncio.wait_for(client.close(), STOP_SECONDS)
            except Exception as exc:  # closing is best effort; the writes below still matter
                logger.warning("%s: closing the exchange client failed: %r", self.exchange_id, exc)
        loop = asyncio.get_running_loop()
        for executor in (self._db, self._derive_db):
            # queued after every write and derivation already handed to this thread
            closed = asyncio.wrap_future(executor.submit(_close_connection), loop=loop)
            await asyncio.wait([closed], timeout=STOP_SECONDS)
            executor.shutdown(wait=False)
        pending = list(self._writing.values())  # a copy: the threads remove finished writes
        self.unwritten = sorted(pending, key=lambda w: (w[1].ts_ms, w[0]))
        for symbol, bar in self.unwritten:
            logger.error(
                "%s %s: the 1m bar at %s was not confirmed written within %.0f s",
                self.exchange_id, symbol, bar.ts_ms, STOP_SECONDS,
            )  # fmt: skip

    async def _supervise(self, name: str, loop_fn, symbol: str) -> None:
        """Run a stream forever; after a failure wait 1, 2, 4 ... 60 s (reset once it ran 60 s)."""
        delays = backoff_delays()
        while not self._stopping:
            started = time.monotonic()
            try:
                await loop_fn(symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if time.monotonic() - started >= BACKOFF_MAX:
                    delays = backoff_delays()
                delay = next(delays)
                self.reconnects += 1
                logger.warning(
                    "%s %s failed (%s); reconnecting in %.0f s", self.exchange_id, name, exc, delay
                )
                await asyncio.sleep(delay)

    # -- trades -> bars --------------------------------------------------------------------
    async def _markets(self) -> None:
        """Load markets inside the supervised loops, so an exchange that is down is retried."""
        client = self.pro if self.pro is not None else self.rest
        if not client.markets:
            await client.load_markets()

    async def _trades(self, symbol: str) -> None:
        await self._markets()
        while not self._stopping:
            if self.pro is not None:
                trades = await self.pro.watch_trades(symbol)
            else:
                trades = await self.rest.fetch_trades(symbol, limit=1000)
                await asyncio.sleep(self.poll_seconds)
            fresh = self._fresh(symbol, trades)
            if fresh:
                await self._on_trades(symbol, fresh)

    def _fresh(self, symbol: str, trades: list[dict]) -> list[dict]:
        last = self.last_trade_id.get(symbol, -1)
        fresh = [t for t in trades if int(t["id"]) > last]
        if fresh:
            self.last_trade_id[symbol] = max(int(t["id"]) for t in fresh)
        return fresh

    async def _on_trades(self, symbol: str, trades: list[dict]) -> None:
        await self.publisher.trades(
            symbol,
            [
                {
                    "id": t["id"],
                    "ts": t["timestamp"],
                    "price": t["price"],
                    "amount": t["amount"],
                    "side": t["side"],
                }
                for t in trades
            ],
        )
        builder = self.builders[symbol]
        self.last_price[symbol] = trades[-1]["price"]
        if symbol not in self.first_full_bar:
            first = min(t["timestamp"] for t in trades)
            self.first_full_bar[symbol] = first - first % MINUTE_MS + MINUTE_MS
        for t in trades:
            ts, price, qty = t["timestamp"], t["price"], t["amount"]
            closed = self.last_closed.get(symbol)
            if closed is not None and ts < closed.ts_ms + MINUTE_MS:
                await self._correct_late(symbol, closed, price, qty)
                continue
            bar = builder.add(ts, price, qty)
            if bar is not None:
                await self._close_bar(symbol, bar)

    async def _correct_late(self, symbol: str, bar: Bar, price: float, qty: float) -> None:
        if bar.ts_ms < self.first_full_bar[symbol]:
            return
        fixed = bar._replace(
            high=max(bar.high, price),
            low=min(bar.low, price),
            close=price,
            volume=bar.volume + qty,
            trades=bar.trades + 1,
        )
        self.last_closed[symbol] = fixed
        self.corrections += 1
        await self._persist(symbol, fixed, correction=True)

    async def _close_bar(self, symbol: str, bar: Bar) -> None:
        self.last_closed[symbol] = bar
        if bar.ts_ms < self.first_full_bar.get(symbol, bar.ts_ms + 1):
            # partial: the collector started inside this minute (a new slice, a restart); the
            # exchange's own bar stands in, so bots following the bars miss none
            task = asyncio.create_task(self._exchange_bar(symbol, bar.ts_ms))
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)
            return
        await self._persist(symbol, bar)

    async def _exchange_bar(self, symbol: str, ts_ms: int) -> None:
        """Write and publish the exchange's bar for `ts_ms` once its REST history has it."""
        for delay in EXCHANGE_BAR_DELAYS:
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                rows = await self.rest.fetch_ohlcv(symbol, "1m", since=ts_ms, limit=2)
            except Exception as exc:  # the exchange's or the network's: try again, then give up
                logger.info("%s %s: bar %s not fetched: %r", self.exchange_id, symbol, ts_ms, exc)
                continue
            row = next((r for r in rows if int(r[0]) == ts_ms), None)
            if row is None:
                continue
            bar = Bar(ts_ms, *(float(v) for v in row[1:6]), 0)
            self.exchange_bars += 1
            await self._persist(symbol, bar, correction=True)  # no latency figure: not built here
            return
        logger.warning("%s %s: the bar at %s was not available", self.exchange_id, symbol, ts_ms)

    async def _persist(self, symbol: str, bar: Bar, *, correction: bool = False) -> None:
        future = self._db.submit(_write_bar, self.exchange_id, symbol, bar, self.clock)
        self._writing[future] = (symbol, bar)
        future.add_done_callback(self._written)
        # shielded: a cancelled loop (the collector stopping) must not drop a queued write
        written = await asyncio.shield(asyncio.wrap_future(future))
        if not correction:
            self.bar_latencies.append(written - (bar.ts_ms + MINUTE_MS) / 1000)
        self._derive_db.submit(_derive, self.exchange_id, symbol, bar.ts_ms).add_done_callback(
            self._derived
        )
        await self.publisher.candle(symbol, {"timeframe": "1m", "closed": True, **bar._asdict()})
        if self.on_bar is not None:
            self.on_bar(symbol, bar, written)

    def _written(self, future: Future) -> None:
        symbol, bar = self._writing.pop(future)
        if not future.cancelled() and future.exception() is not None:
            logger.error(
                "%s %s: writing the 1m bar at %s failed: %r",
                self.exchange_id, symbol, bar.ts_ms, future.exception(),
            )  # fmt: skip

    def _derived(self, future: Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            logger.error(
                "%s: deriving longer bars failed: %r", self.exchange_id, future.exception()
            )

    async def _clock_loop(self) -> None:
        """Close each minute's bar as the minute ends, even if no trade follows."""
        while not self._stopping:
            now_ms = int(self.clock() * 1000)
            due = [(s, b.close_due(now_ms)) for s, b in self.builders.items()]
            await asyncio.gather(*(self._close_bar(s, bar) for s, bar in due if bar is not None))
            if self.heartbeat is not None:
                await self.heartbeat()
            await asyncio.sleep(0.01)

    # -- book and ticker -------------------------------------------------------------------
    async def _book(self, symbol: str) -> None:
        await self._markets()
        while not self._stopping:
            if self.pro is not None:
                book = await self.pro.watch_order_book(symbol)
            else:
                book = await self.rest.fetch_order_book(symbol, 20)
            bids, asks = book["bids"][:20], book["asks"][:20]
            ts = book.get("timestamp") or int(self.clock() * 1000)
            await self.publisher.book(
                symbol, {"ts": ts, "bids": bids, "asks": asks, "nonce": book.get("nonce")}
            )
            await self._ticker(symbol, bids, asks, ts)
            if self.pro is None:
                await asyncio.sleep(self.poll_seconds)

    async def _ticker(self, symbol: str, bids, asks, ts: int) -> None:
        last = self.last_price.get(symbol)
        ticker = {
            "ts": ts,
            "bid": bids[0][0] if bids else None,
            "ask": asks[0][0] if asks else None,
            "last": last,
        }
        await self.publisher.ticker(symbol, ticker)
