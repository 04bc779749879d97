"""One market's live feed over a websocket: the collectors' Redis channel, forwarded as is.

`ws/markets/<exchange>/<symbol>/` (symbol as in URLs, BTC-USDT). Any signed-in user past the
OTP step may follow any collected market (market data has no owner); others and unknown
markets are refused at the handshake (HTTP 403). Book, ticker, trades and candle messages of
marketdata.publish.channel() are sent to the browser as the JSON the collector published.
No writes.

The subscription polls with `get_message(timeout=1.0)` on a client without a socket timeout:
a quiet market leaves the socket open indefinitely, it never times out a read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import Http404

from config.consumers import authenticated_user
from marketdata.publish import channel

logger = logging.getLogger(__name__)

FORWARDED = frozenset({"book", "ticker", "trades", "candle"})


@database_sync_to_async
def _market(exchange: str, slug: str):
    from marketdata.selectors import market_get, symbol_from_slug

    try:
        return market_get(exchange=exchange, symbol=symbol_from_slug(slug))
    except Http404:
        return None


class MarketLiveConsumer(AsyncWebsocketConsumer):
    """Forwards one market's published events to the browser."""

    _task: asyncio.Task | None = None

    async def connect(self):
        user = await authenticated_user(self.scope)
        kwargs = self.scope["url_route"]["kwargs"]
        market = await _market(kwargs["exchange"], kwargs["symbol"]) if user else None
        if market is None:
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self.channel = channel(market.exchange, market.symbol)
        self._task = asyncio.create_task(self._forward())
        await self.accept()

    async def disconnect(self, code):
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def receive(self, text_data=None, bytes_data=None):
        """The page sends nothing the server acts on."""

    async def _forward(self) -> None:
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    await self._send_event(message["data"])
        except asyncio.CancelledError:
            raise
        except Exception:  # Redis gone: close, the page reconnects with backoff
            logger.exception("market feed %s stopped", self.channel)
            await self.close()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()

    async def _send_event(self, data: bytes) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            return
        if isinstance(event, dict) and event.get("type") in FORWARDED:
            await self.send(text_data=data.decode() if isinstance(data, bytes) else data)


# -- the arbitrage tracker -----------------------------------------------------------------


def _arbitrage_board_render(size) -> str:
    from django.template.loader import render_to_string

    from marketdata.selectors import arbitrage_board
    from marketdata.services.arbitrage import arbitrage_size_request

    arbitrage_size_request(size=size)  # the page is open: keep its size in the scan
    board = arbitrage_board(size=size)
    return render_to_string("marketdata/_arbitrage_board.html", {"board": board, "oob": True})


class ArbitrageLiveConsumer(AsyncWebsocketConsumer):
    """`ws/arbitrage/<size>/`: the tracker's board for one size, redrawn after every scan.

    Any signed-in user past the OTP step (market data has no owner); others and a size the page
    would refuse are refused at the handshake (HTTP 403). The scan task announces
    {"type": "scan.done"} to the "arbitrage" group; the board is rendered from the stored scan
    and sent as an hx-swap-oob fragment. The only write is the size's scan request (Redis)."""

    group = "arbitrage"
    size = None

    async def connect(self):
        from marketdata.services.arbitrage import ARBITRAGE_GROUP, SizeError, arbitrage_size_parse

        user = await authenticated_user(self.scope)
        try:
            self.size = arbitrage_size_parse(self.scope["url_route"]["kwargs"]["size"])
        except SizeError:
            self.size = None
        if user is None or self.size is None:
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self.group = ARBITRAGE_GROUP
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.size is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """The page sends nothing the server acts on."""

    async def scan_done(self, message):
        try:
            html = await database_sync_to_async(_arbitrage_board_render)(self.size)
        except Exception:  # a render failure must not end the connection
            logger.exception("arbitrage board for %s not rendered", self.size)
            return
        await self.send(text_data=html)
