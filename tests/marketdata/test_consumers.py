"""A market's websocket: forwards the collectors' Redis messages, refuses anonymous users and
unknown markets at the handshake, and stays open quietly on a market with no events."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets

import pytest
import redis.asyncio as aioredis
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from config.routing import websocket_urlpatterns
from marketdata.models import Instrument
from marketdata.publish import channel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def venue(db) -> str:
    """A market of this test's own: Redis pub/sub channels ignore the database number."""
    name = f"ws{secrets.token_hex(3)}"
    Instrument.objects.create(exchange=name, symbol="BTC/USDT", base="BTC", quote="USDT")
    return name


def communicator(user, path: str) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    ws.scope["user"] = user
    ws.scope["session"] = {}
    return ws


async def publish_until_received(ws, exchange, message: dict, timeout=10.0) -> dict:
    """Publish once the consumer has subscribed (PUBSUB NUMSUB), then read what it forwards.

    (A communicator's receive that times out cancels the application: never poll with it.)"""
    name = channel(exchange, "BTC/USDT")
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while dict(await client.pubsub_numsub(name)).get(name.encode(), 0) < 1:
            assert loop.time() < deadline, "the consumer never subscribed"
            await asyncio.sleep(0.05)
        await client.publish(name, json.dumps(message))
        return json.loads(await ws.receive_from(timeout=timeout))
    finally:
        await client.aclose()


def test_published_book_and_trades_reach_the_browser(alice, venue):
    book = {"type": "book", "exchange": venue, "symbol": "BTC/USDT", "ts": 1,
            "bids": [[100.0, 1.0]], "asks": [[101.0, 2.0]], "nonce": None}  # fmt: skip
    trade = {"id": "7", "ts": 2, "price": 100.5, "amount": 0.1, "side": "buy"}
    trades = {"type": "trades", "exchange": venue, "symbol": "BTC/USDT", "trades": [trade]}

    async def scenario():
        ws = communicator(alice, f"/ws/markets/{venue}/BTC-USDT/")
        connected, _ = await ws.connect()
        assert connected
        assert await publish_until_received(ws, venue, book) == book
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        # a message of another kind is not forwarded; the next trades message is
        await client.publish(channel(venue, "BTC/USDT"), json.dumps({"type": "secret"}))
        await client.publish(channel(venue, "BTC/USDT"), json.dumps(trades))
        assert json.loads(await ws.receive_from(timeout=5)) == trades
        await client.aclose()
        await ws.disconnect()

    async_to_sync(scenario)()


def test_anonymous_user_is_refused(venue):
    async def scenario():
        ws = communicator(AnonymousUser(), f"/ws/markets/{venue}/BTC-USDT/")
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()


def test_unknown_market_is_refused(alice, venue):
    async def scenario():
        ws = communicator(alice, f"/ws/markets/{venue}/DOGE-USDT/")
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()


def test_quiet_market_keeps_its_socket_open_without_errors(alice, venue, caplog):
    async def scenario():
        ws = communicator(alice, f"/ws/markets/{venue}/BTC-USDT/")
        connected, _ = await ws.connect()
        assert connected
        with caplog.at_level(logging.WARNING):
            assert await ws.receive_nothing(timeout=6, interval=0.5)  # several poll timeouts
        ticker = {"type": "ticker", "exchange": venue, "symbol": "BTC/USDT", "ts": 3,
                  "bid": 100.0, "ask": 101.0, "last": 100.5}  # fmt: skip
        assert await publish_until_received(ws, venue, ticker) == ticker
        await ws.disconnect()

    async_to_sync(scenario)()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_session_short_of_the_otp_step_is_refused(alice, alice_totp, venue):
    async def scenario():
        ws = communicator(alice, f"/ws/markets/{venue}/BTC-USDT/")  # no verified device
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()
