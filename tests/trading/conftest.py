"""Trading fixtures: a sandbox exchange, market events on Redis, bots for the personas.

Market events are published on the collectors' Redis channels in the collectors' format
(see trading.runtime.hub), by the test itself standing in for a collector.
"""

import json
import secrets
import time
from decimal import Decimal

import pytest
import redis
from django.conf import settings

from exchanges.sandbox.testing import open_account, start_sandbox
from trading.runtime.hub import book_key, ticker_key
from trading.runtime.hub import market_channel as channel


@pytest.fixture(autouse=True)
def _runtime_inline(settings):
    """Runtime database work on the test's own thread (and connection, and transaction)."""
    from trading.runtime.runner import parked_close_all

    settings.PEREGRINE_BOT_DB_THREADS = 0
    settings.PEREGRINE_BOT_LEASE_SECONDS = 5
    settings.PEREGRINE_BOT_SLICE_SECONDS = 2
    settings.PEREGRINE_BOT_CHECKPOINT_SECONDS = 0.5
    yield
    parked_close_all()


# Redis pub/sub ignores the database number: other test runs on the same Redis publish on
# `market:sandbox:...` too. This run's sandbox venues get names of their own.
RUN = secrets.token_hex(3)
VENUE_A, VENUE_B = f"tsb{RUN}", f"tsb{RUN}b"


@pytest.fixture(scope="package")
def sandbox():
    server, url = start_sandbox(venues=[VENUE_A, VENUE_B], weight_limit=10**9)
    yield server, url
    server.stop_thread()


@pytest.fixture
def sandbox_url(sandbox, settings) -> str:
    settings.PEREGRINE_SANDBOX_URL = sandbox[1]
    settings.PEREGRINE_SANDBOX_VENUES = [*settings.PEREGRINE_SANDBOX_VENUES, VENUE_A, VENUE_B]
    return sandbox[1]


class Market:
    """Publishes books, trades and candles like a collector does."""

    def __init__(self) -> None:
        self.redis = redis.Redis.from_url(settings.REDIS_URL)

    def book(self, exchange, symbol, bid, ask, *, size="1", ts=None):
        ts = ts or int(time.time() * 1000)
        bid, ask = Decimal(str(bid)), Decimal(str(ask))
        step = (ask - bid) or Decimal("0.01")
        payload = {
            "type": "book",
            "exchange": exchange,
            "symbol": symbol,
            "ts": ts,
            "bids": [[float(bid - step * i), float(size)] for i in range(5)],
            "asks": [[float(ask + step * i), float(size)] for i in range(5)],
            "nonce": None,
        }
        text = json.dumps(payload)
        self.redis.set(book_key(exchange, symbol), text, ex=600)
        ticker = {"type": "ticker", "exchange": exchange, "symbol": symbol, "ts": ts,
                  "bid": float(bid), "ask": float(ask), "last": float((bid + ask) / 2)}  # fmt: skip
        self.redis.set(ticker_key(exchange, symbol), json.dumps(ticker), ex=600)
        self.redis.publish(channel(exchange, symbol), text)

    def trade(self, exchange, symbol, price, amount="0.1", side="sell", ts=None):
        ts = ts or int(time.time() * 1000)
        payload = {
            "type": "trades",
            "exchange": exchange,
            "symbol": symbol,
            "trades": [
                {"id": str(ts), "ts": ts, "price": float(price), "amount": float(amount),
                 "side": side}
            ],
        }  # fmt: skip
        self.redis.publish(channel(exchange, symbol), json.dumps(payload))

    def candle(self, exchange, symbol, ts_ms, close, *, open_=None):
        open_ = close if open_ is None else open_
        payload = {
            "type": "candle", "exchange": exchange, "symbol": symbol, "timeframe": "1m",
            "closed": True, "ts_ms": ts_ms, "open": open_, "high": max(open_, close),
            "low": min(open_, close), "close": close, "volume": 1.0, "trades": 1,
        }  # fmt: skip
        self.redis.publish(channel(exchange, symbol), json.dumps(payload))

    def clear(self, exchange, symbol):
        self.redis.delete(book_key(exchange, symbol), ticker_key(exchange, symbol))


@pytest.fixture
def market():
    m = Market()
    yield m
    m.redis.close()


@pytest.fixture
def funded_account(sandbox):
    server, url = sandbox

    def make(funds=None):
        return open_account(server, url, funds or {"USDT": "100000", "BTC": "2", "ETH": "20"})

    return make


MM_PARAMS = {
    "order_amount": "0.01",
    "order_refresh_time_ms": 200,
    "filled_order_delay_ms": 0,
    "bid_spread": "0.001",
    "ask_spread": "0.001",
}


@pytest.fixture
def make_bot(sandbox_url):
    """A paper market maker on this run's first sandbox venue (override anything)."""
    from trading.services.bots import bot_create

    def make(user, **overrides):
        fields = {
            "name": f"bot-{secrets.token_hex(3)}",
            "strategy": "pure_market_making",
            "params": MM_PARAMS,
            "symbols": ["BTC/USDT"],
            "venues": [VENUE_A],
            "budget": "10000",
            "paper_balances": {VENUE_A: {"USDT": "10000", "BTC": "0.1"}},
        }
        fields.update(overrides)
        return bot_create(user=user, **fields)

    return make


@pytest.fixture
def live_account(sandbox, sandbox_url):
    """A live exchange account of `user` on a freshly funded sandbox account."""
    from exchanges.services.credentials import exchange_account_create

    def make(user, funds=None, exchange=VENUE_A, label=None):
        sandbox_account = open_account(
            sandbox[0], sandbox[1], funds or {"USDT": "100000", "BTC": "2", "ETH": "20"}
        )
        account = exchange_account_create(
            user=user,
            exchange=exchange,
            label=label or f"live-{secrets.token_hex(3)}",
            mode="live",
            api_key=sandbox_account.api_key,
            secret=sandbox_account.secret,
        )
        account.sandbox = sandbox_account
        return account

    return make


LIVE_OK = {"second_factor_verified": True, "recently_authenticated": True, "confirmed": True}


class Feeder:
    """Publishes a moving book for a market on a thread until stopped."""

    def __init__(self, market, exchange, symbol, *, start=30000.0, step=40.0, every=0.1, wave=True):
        """`wave`: the price swings up and down by `step` every three books; otherwise it moves
        by `step` at every book (a steady trend)."""
        import threading

        self.market, self.exchange, self.symbol = market, exchange, symbol
        self.price, self.step, self.every, self.wave = start, step, every, wave
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        while not self.stop_event.is_set():
            self.market.book(self.exchange, self.symbol, self.price - 1, self.price + 1)
            n += 1
            self.price += self.step if (not self.wave or (n // 3) % 2) else -self.step
            time.sleep(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(5)


@pytest.fixture
def feeder(market):
    def make(exchange=None, symbol="BTC/USDT", **kwargs):
        return Feeder(market, exchange or VENUE_A, symbol, **kwargs)

    return make
