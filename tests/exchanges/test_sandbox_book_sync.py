"""Order-book sync on the sandbox: the first depth diff a subscriber gets continues the REST
snapshot it fetched, whenever it subscribed, so ccxt.pro never raises ChecksumError.

The race that was: the depth stream began following a venue's book only at the first tick after
the venue's first connection. A client that subscribed and fetched its snapshot before that
tick got no diff for it, and the next diff started two past the snapshot's lastUpdateId.
"""

import asyncio
import collections
import json

import aiohttp
import ccxt
import ccxt.pro as ccxt_pro
import pytest

from exchanges.sandbox.testing import point_at_sandbox, start_sandbox

HANG_GUARD = 120  # seconds, only against a hang
SYMBOLS = ["BTC/USDT", "ETH/USDT", "ETH/BTC"]


@pytest.fixture
def fresh_server():
    servers = []

    def make(**options):
        options.setdefault("history_bars", 30)
        options.setdefault("weight_limit", 10**9)  # this test measures sync, not the budget
        server, url = start_sandbox(**options)
        servers.append(server)
        return server, url

    yield make
    for server in servers:
        server.stop_thread()


def test_first_diff_after_a_snapshot_taken_before_any_tick_continues_it(fresh_server):
    server, url = fresh_server()
    server.paused = True
    server.call(lambda: None)  # a tick under way when it paused is over

    async def scenario():
        async with aiohttp.ClientSession() as session:
            ws_url = url.replace("http://", "ws://") + "/sandbox/stream/ws"
            async with session.ws_connect(ws_url) as ws:
                await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 1})
                ack = json.loads((await asyncio.wait_for(ws.receive(), HANG_GUARD)).data)
                assert ack == {"result": None, "id": 1}
                async with session.get(f"{url}/sandbox/api/v3/depth?symbol=BTCUSDT") as r:
                    snapshot = await r.json()
                await asyncio.to_thread(server.tick_now, 0.25)
                await asyncio.to_thread(server.tick_now, 0.25)
                first = json.loads((await asyncio.wait_for(ws.receive(), HANG_GUARD)).data)
                second = json.loads((await asyncio.wait_for(ws.receive(), HANG_GUARD)).data)
        return snapshot, first, second

    snapshot, first, second = asyncio.run(scenario())
    last = snapshot["lastUpdateId"]
    assert first["e"] == "depthUpdate"
    assert first["U"] <= last + 1 <= first["u"]  # Binance's rule for the first diff
    assert second["U"] == first["u"] + 1
    # the diff applied to the snapshot gives the book the REST API now reports
    book = {"bids": dict(snapshot["bids"]), "asks": dict(snapshot["asks"])}
    for event in (first, second):
        for side, key in (("bids", "b"), ("asks", "a")):
            for price, qty in event[key]:
                if float(qty) == 0:
                    book[side].pop(price, None)
                else:
                    book[side][price] = qty
    depth = server.call(lambda: _rest_book(server))
    assert {p: float(q) for p, q in book["bids"].items()} == depth["bids"]
    assert {p: float(q) for p, q in book["asks"].items()} == depth["asks"]


def _rest_book(server):
    from tradecore.domain import Side

    state = server.venues["sandbox"].symbols["BTC/USDT"]
    return {
        side: {_fmt(p): float(q) for p, q in state.book.depth(s)}
        for side, s in (("bids", Side.BUY), ("asks", Side.SELL))
    }


def _fmt(value):
    from exchanges.sandbox.streams import fmt

    return fmt(value)


async def _subscribe(url, index, counts):
    # a long REST timeout: a loaded machine must not turn into a failure here (the test is
    # about sequence numbers, not speed)
    client = point_at_sandbox(ccxt_pro.binance({"timeout": 90_000}), url)
    symbol = SYMBOLS[index % len(SYMBOLS)]
    try:
        book = None
        for _ in range(3):  # the snapshot, then two diffs on top of it
            book = await asyncio.wait_for(client.watch_order_book(symbol), HANG_GUARD)
        assert book["bids"][0][0] < book["asks"][0][0]
        counts["ok"] += 1
    except ccxt.ChecksumError:
        counts["ChecksumError"] += 1
    except Exception as exc:  # anything else is a failure too, counted by its name
        counts[type(exc).__name__] += 1
    finally:
        await client.close()


def test_two_hundred_subscriptions_sync_without_a_checksum_error(fresh_server):
    """240 subscriptions by the unmodified ccxt.pro client, 20 at a time, each batch on a
    fresh server (where the first subscription on a venue was the one at risk), at the
    production tick of 0.25 s."""
    counts = collections.Counter()

    async def batch(url, start):
        await asyncio.gather(*(_subscribe(url, start + i, counts) for i in range(20)))

    for round_ in range(12):
        _, url = fresh_server(tick_seconds=0.25)
        asyncio.run(batch(url, round_ * 20))
    assert counts == {"ok": 240}, counts
