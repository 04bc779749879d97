"""Live fan-out: the latest book and ticker per market in Redis, every event on a channel.

Keys: `market:{exchange}:{symbol}:book` and `:ticker` (JSON). Channel: `market:{exchange}:{symbol}`
with messages {"type": "trades" | "book" | "ticker" | "candle", ...}.
"""

from __future__ import annotations

import json


def channel(exchange: str, symbol: str) -> str:
    return f"market:{exchange}:{symbol}"


def book_key(exchange: str, symbol: str) -> str:
    return f"{channel(exchange, symbol)}:book"


def ticker_key(exchange: str, symbol: str) -> str:
    return f"{channel(exchange, symbol)}:ticker"


class MarketPublisher:
    """Writes through one redis.asyncio client; each update is one pipelined round trip."""

    def __init__(self, redis_client, exchange: str) -> None:
        self.redis = redis_client
        self.exchange = exchange

    async def trades(self, symbol: str, trades: list[dict]) -> None:
        message = {"type": "trades", "exchange": self.exchange, "symbol": symbol, "trades": trades}
        await self.redis.publish(channel(self.exchange, symbol), json.dumps(message))

    async def book(self, symbol: str, book: dict) -> None:
        payload = {"type": "book", "exchange": self.exchange, "symbol": symbol, **book}
        await self._set_and_publish(book_key(self.exchange, symbol), symbol, payload)

    async def ticker(self, symbol: str, ticker: dict) -> None:
        payload = {"type": "ticker", "exchange": self.exchange, "symbol": symbol, **ticker}
        await self._set_and_publish(ticker_key(self.exchange, symbol), symbol, payload)

    async def candle(self, symbol: str, bar: dict) -> None:
        payload = {"type": "candle", "exchange": self.exchange, "symbol": symbol, **bar}
        await self.redis.publish(channel(self.exchange, symbol), json.dumps(payload))

    async def _set_and_publish(self, key: str, symbol: str, payload: dict) -> None:
        text = json.dumps(payload)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, text, ex=3600)
            pipe.publish(channel(self.exchange, symbol), text)
            await pipe.execute()
