"""A collector against the sandbox: trades -> 1m bars in Postgres (and derived), Redis fan-out."""

import asyncio
import json
import threading
import time

import pytest
import redis.asyncio as redis_async
from django.conf import settings

from exchanges.gateway.clients import sync_client
from exchanges.sandbox.market import ScaledClock
from exchanges.sandbox.testing import start_sandbox
from marketdata.aggregation import Bar
from marketdata.collectors import Collector, backoff_delays
from marketdata.models import Candle
from marketdata.publish import book_key, channel, ticker_key
from marketdata.services.candles import dt_to_ms
from marketdata.timeframes import MINUTE_MS


@pytest.fixture
def fast_sandbox():
    clock = ScaledClock(speed=30)  # one market minute per two seconds
    server, url = start_sandbox(clock=clock, tick_seconds=0.02, venues=["sandbox"])
    yield clock, server, url
    server.stop_thread()


async def _collect(clock, url, mode, seconds):
    client = redis_async.from_url(settings.REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel("sandbox", "BTC/USDT"))
    collector = Collector(
        "sandbox",
        ["BTC/USDT", "ETH/USDT"],
        redis_client=client,
        sandbox_url=url,
        mode=mode,
        poll_seconds=0.1,
        clock=clock.now,
    )
    await collector.run(seconds=seconds)
    kinds = set()
    for _ in range(5000):  # a None is also returned for the (ignored) subscribe confirmation
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.01)
        if message is not None:
            kinds.add(json.loads(message["data"])["type"])
        if len(kinds) == 4:
            break
    book = json.loads(await client.get(book_key("sandbox", "BTC/USDT")))
    ticker = json.loads(await client.get(ticker_key("sandbox", "BTC/USDT")))
    await pubsub.aclose()
    await client.aclose()
    return collector, kinds, book, ticker


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["stream", "poll"])
def test_collector_builds_the_exchange_bars_and_fans_out(fast_sandbox, mode):
    clock, server, url = fast_sandbox
    collector, kinds, book, ticker = asyncio.run(_collect(clock, url, mode, 7))
    assert collector.mode == mode
    assert {"trades", "book", "ticker", "candle"} <= kinds
    assert book["bids"][0][0] < book["asks"][0][0] and ticker["last"] > 0
    rows = list(
        Candle.objects.filter(exchange="sandbox", symbol="BTC/USDT", timeframe="1m").order_by("ts")
    )
    assert len(rows) >= 2
    exchange_bars = {
        b[0]: b
        for b in sync_client("sandbox", sandbox_url=url).fetch_ohlcv("BTC/USDT", "1m", limit=30)
    }
    # the newest row may still await late trades (corrected in place when they arrive)
    for row in rows[:-1]:
        theirs = exchange_bars[dt_to_ms(row.ts)]
        assert [float(row.open), float(row.high), float(row.low), float(row.close)] == theirs[1:5]
        assert float(row.volume) == pytest.approx(theirs[5], rel=1e-6)
    assert Candle.objects.filter(exchange="sandbox", timeframe="5m").exists()
    assert Candle.objects.filter(exchange="sandbox", symbol="ETH/USDT", timeframe="1m").exists()
    # the minute it started in (partial to the collector) is the exchange's own bar: no hole
    stamps = [dt_to_ms(row.ts) for row in rows]
    assert stamps[0] == collector.first_full_bar["BTC/USDT"] - 60_000
    assert all(b - a == 60_000 for a, b in zip(stamps, stamps[1:], strict=False)), stamps
    assert collector.exchange_bars >= 1


def test_reconnect_backoff_doubles_to_a_minute():
    delays = backoff_delays()
    assert [next(delays) for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


@pytest.mark.django_db(transaction=True)
def test_collector_reconnects_after_the_exchange_goes_away(fast_sandbox):
    clock, server, url = fast_sandbox

    async def run():
        client = redis_async.from_url(settings.REDIS_URL)
        collector = Collector(
            "sandbox",
            ["BTC/USDT"],
            redis_client=client,
            sandbox_url=url,
            mode="poll",
            poll_seconds=0.1,
            clock=clock.now,
        )
        server.call(setattr, server.venues["sandbox"], "maintenance", True)
        task = asyncio.create_task(collector.run(seconds=2.5))
        await asyncio.sleep(0.5)
        server.call(setattr, server.venues["sandbox"], "maintenance", False)
        await task
        await client.aclose()
        return collector

    collector = asyncio.run(run())
    assert collector.reconnects >= 1
    assert collector.last_trade_id.get("BTC/USDT", -1) > 0  # it came back and collected


class _Redis:
    async def publish(self, channel, text):
        return 1


class _SwallowingStream:
    """Like a ccxt.pro watch: it takes a cancellation in and waits on, until its client closes."""

    has = {"watchTrades": True}
    markets = {"BTC/USDT": {}}

    def __init__(self):
        self.closed = False
        self.waiting = set()

    async def _watch(self, symbol):
        while True:
            future = asyncio.get_running_loop().create_future()
            self.waiting.add(future)
            try:
                return await future
            except asyncio.CancelledError:
                if self.closed:
                    raise

    watch_trades = watch_order_book = _watch

    async def close(self):
        self.closed = True
        for future in self.waiting:
            future.cancel()


def _offline_collector(monkeypatch):
    monkeypatch.setattr("marketdata.collectors.STOP_SECONDS", 0.5)
    monkeypatch.setattr("marketdata.collectors._close_connection", lambda: None)
    monkeypatch.setattr("marketdata.collectors._derive", lambda *args: None)
    collector = Collector("sandbox", ["BTC/USDT"], redis_client=_Redis(), mode="poll")
    collector.rest, collector.pro = _SwallowingStream(), _SwallowingStream()
    return collector


def test_stopping_ends_streams_that_take_the_cancellation_in(monkeypatch):
    collector = _offline_collector(monkeypatch)
    # on a thread of its own, so that a stop that never ends fails here instead of hanging
    thread = threading.Thread(target=asyncio.run, args=(collector.run(seconds=0.1),), daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the collector did not stop"
    assert collector.pro.closed and collector.rest.closed


def test_stopping_waits_for_handed_over_writes_and_reports_the_rest(monkeypatch):
    collector = _offline_collector(monkeypatch)
    written = []

    def write(exchange, symbol, bar, clock):
        time.sleep(bar.volume)
        written.append(bar.ts_ms)
        return clock()

    monkeypatch.setattr("marketdata.collectors._write_bar", write)
    bars = [
        Bar(ts * MINUTE_MS, 1.0, 1.0, 1.0, 1.0, seconds, 1) for ts, seconds in [(1, 0.2), (2, 2)]
    ]

    async def run():
        tasks = [asyncio.create_task(collector._persist("BTC/USDT", bar)) for bar in bars]
        await asyncio.sleep(0.05)
        await collector._stop(tasks)  # the loops are cancelled with both writes handed over

    asyncio.run(run())
    assert written[:1] == [MINUTE_MS]  # queued behind nothing: written although cancelled
    assert collector.unwritten == [("BTC/USDT", bars[1])]  # still running at the bound: reported
