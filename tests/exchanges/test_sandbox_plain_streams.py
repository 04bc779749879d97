"""The sandbox's streams as the unmodified ccxt.pro binance client uses them (only URLs changed).

Public: klines (watch_ohlcv keeps sending the bar as it moves), aggTrade and trade. Private: the
user data stream over the websocket API (`userDataStream.subscribe.signature`, what ccxt.pro
uses for spot) feeds watch_orders, watch_my_trades and watch_balance, and the listen-key REST
flow feeds a plain websocket; the fills the private stream reports equal the REST trades.
"""

import asyncio
import json

import aiohttp
import ccxt.pro as ccxt_pro
import pytest

from exchanges.sandbox.testing import open_account, point_at_sandbox

FUNDS = {"USDT": "100000", "BTC": "1", "ETH": "10"}
HANG_GUARD = 20  # seconds: only so that a broken stream fails instead of hanging the run


@pytest.fixture
def account(sandbox_server, sandbox_url):
    return open_account(sandbox_server, sandbox_url, FUNDS)


def _pro(account, **keys):
    config = {"apiKey": account.api_key, "secret": account.secret} if keys.get("signed") else {}
    return point_at_sandbox(ccxt_pro.binance(config), account.base_url)


async def _guard(awaitable):
    return await asyncio.wait_for(awaitable, HANG_GUARD)


async def test_watch_ohlcv_sends_the_moving_bar(account):
    client = _pro(account)
    try:
        first = await _guard(client.watch_ohlcv("BTC/USDT", "1m"))
        updates = [await _guard(client.watch_ohlcv("BTC/USDT", "1m")) for _ in range(3)]
        five = await _guard(client.watch_ohlcv("ETH/USDT", "5m"))
    finally:
        await client.close()
    assert first and all(u for u in updates)
    bar = updates[-1][-1]
    assert bar[0] % 60_000 == 0 and bar[2] >= max(bar[1], bar[4]) and bar[3] <= min(bar[1], bar[4])
    assert five[-1][0] % 300_000 == 0
    # the streamed bar is the REST bar of the same minute (the market moves on between the two)
    rest = point_at_sandbox(ccxt_pro.binance(), account.base_url)
    try:
        bars = await rest.fetch_ohlcv("BTC/USDT", "1m", since=bar[0], limit=1)
    finally:
        await rest.close()
    assert bars[0][0] == bar[0] and bars[0][1] == bar[1]


async def test_watch_trades_on_agg_trade_and_trade(account):
    client = _pro(account)
    try:
        agg = await _guard(client.watch_trades("BTC/USDT", params={"name": "aggTrade"}))
        plain = await _guard(client.watch_trades("ETH/USDT"))
    finally:
        await client.close()
    assert agg and all(t["info"]["e"] == "aggTrade" and t["price"] > 0 for t in agg)
    assert plain and all(t["info"]["e"] == "trade" for t in plain)


async def _watching(client, coroutine, message_hash):
    """Start a watcher and return once ccxt.pro waits for `message_hash` (so an event that
    follows cannot slip by before anyone listens)."""
    task = asyncio.ensure_future(coroutine)
    for _ in range(HANG_GUARD * 100):
        if task.done() or any(message_hash in c.futures for c in client.clients.values()):
            return task
        await asyncio.sleep(0.01)
    raise AssertionError(f"ccxt.pro never waited for {message_hash}")


async def test_private_stream_orders_trades_and_balance_match_rest(account):
    client = _pro(account, signed=True)
    await client.load_markets()
    try:
        orders = await _watching(client, client.watch_orders("BTC/USDT"), "orders:BTC/USDT")
        balance = await _watching(client, client.watch_balance(), "spot:balance")
        price = round((await client.fetch_ticker("BTC/USDT"))["bid"] * 0.8, 2)
        resting = await client.create_order("BTC/USDT", "limit", "buy", 0.01, price)
        new = await _guard(orders)
        assert new[-1]["id"] == resting["id"] and new[-1]["status"] == "open"
        locked = await _guard(balance)
        assert locked["USDT"]["used"] == pytest.approx(price * 0.01)  # price x qty, no fee
        orders = await _watching(client, client.watch_orders("BTC/USDT"), "orders:BTC/USDT")
        await client.cancel_order(resting["id"], "BTC/USDT")
        cancelled = await _guard(orders)
        assert cancelled[-1]["id"] == resting["id"] and cancelled[-1]["status"] == "canceled"
        trades = await _watching(client, client.watch_my_trades("BTC/USDT"), "myTrades:BTC/USDT")
        bought = await client.create_order("BTC/USDT", "market", "buy", 0.02)
        streamed = list(await _guard(trades))
        while sum(t["amount"] for t in streamed if t["order"] == bought["id"]) < 0.02 - 1e-12:
            streamed += await _guard(client.watch_my_trades("BTC/USDT"))
        rest_trades = await client.fetch_my_trades("BTC/USDT")
        rest_balance = await client.fetch_balance()
        streamed_balance = client.balance["spot"] if "spot" in client.balance else client.balance
    finally:
        await client.close()
    fields = ("id", "order", "price", "amount", "cost", "side", "takerOrMaker")
    from_stream = sorted(
        (*(t[f] for f in fields), t["fee"]["cost"], t["fee"]["currency"]) for t in streamed
    )
    from_rest = sorted(
        (*(t[f] for f in fields), t["fee"]["cost"], t["fee"]["currency"])
        for t in rest_trades
        if t["order"] == bought["id"]
    )
    assert from_stream == from_rest and from_rest
    assert {t[-1] for t in from_rest} == {"BTC"}  # the buyer's fee in the base asset
    for asset in ("BTC", "USDT"):
        assert streamed_balance[asset]["free"] == pytest.approx(rest_balance[asset]["free"])
        assert streamed_balance[asset]["used"] == pytest.approx(rest_balance[asset]["used"])


async def test_listen_key_flow_streams_execution_reports(account):
    client = _pro(account, signed=True)
    try:
        await client.load_markets()
        key = (await client.publicPostUserDataStream())["listenKey"]
        assert (await client.publicPostUserDataStream())["listenKey"] == key  # the live key
        await client.publicPutUserDataStream({"listenKey": key})
        ws_url = client.urls["api"]["ws"]["spot"] + "/" + key
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
            order = await client.create_order("ETH/USDT", "market", "sell", 0.1)
            events = []
            while not any(e.get("x") == "TRADE" and e.get("X") == "FILLED" for e in events):
                msg = await _guard(ws.receive())
                events.append(json.loads(msg.data))
            await client.publicDeleteUserDataStream({"listenKey": key})
            while True:  # the rest of the events, then the key's end, then the close
                msg = await _guard(ws.receive())
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                events.append(json.loads(msg.data))
        assert events[-1]["e"] == "listenKeyExpired"
        with pytest.raises(Exception, match="listenKey does not exist"):
            await client.publicPutUserDataStream({"listenKey": key})
    finally:
        await client.close()
    reports = [e for e in events if e["e"] == "executionReport"]
    assert reports[0]["x"] == "NEW" and reports[0]["i"] == int(order["id"])
    trades = [e for e in reports if e["x"] == "TRADE"]
    assert {e["N"] for e in trades} == {"USDT"}  # the seller's fee in the quote asset
    assert sum(float(e["l"]) for e in trades) == pytest.approx(0.1)
    positions = [e for e in events if e["e"] == "outboundAccountPosition"]
    assert positions and {b["a"] for b in positions[-1]["B"]} == {"ETH", "USDT"}


async def test_websocket_api_refuses_a_bad_signature(account):
    async with aiohttp.ClientSession() as session:
        url = account.base_url.replace("http://", "ws://") + "/sandbox/ws-api/v3"
        async with session.ws_connect(url) as ws:
            await ws.send_json(
                {
                    "id": "1",
                    "method": "userDataStream.subscribe.signature",
                    "params": {"apiKey": account.api_key, "timestamp": 1, "signature": "00"},
                }
            )
            answer = json.loads((await _guard(ws.receive())).data)
            await ws.send_json({"id": "2", "method": "order.place", "params": {}})
            unsupported = json.loads((await _guard(ws.receive())).data)
    assert answer["id"] == "1" and answer["status"] == 400
    assert answer["error"]["code"] == -1022
    assert unsupported["status"] == 400 and unsupported["error"]["code"] == -1020
