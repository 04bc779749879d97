"""Sandbox exchange throughput: orders placed and cancelled per second through unmodified ccxt.

Starts the sandbox in-process on a loopback port (its own event-loop thread) and drives it with
ccxt.async_support.binance: 8 concurrent clients each placing a resting limit order and
cancelling it, 1,000 round trips in all; then 500 market orders. Prints orders/s and the
latency of one signed request (p50/p99), HMAC check and matching included. Then, with the
plain ccxt.pro binance client (only URLs changed): the time from sending a market order to its
fill arriving on the private user data stream (watch_my_trades) against the REST answer, and
how long 60 concurrent order-book subscriptions take to sync (snapshot plus first diff).

Run: python bench/sandbox_orders.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from exchanges.gateway.clients import async_client  # noqa: E402
from exchanges.sandbox.testing import open_account, point_at_sandbox, start_sandbox  # noqa: E402

CLIENTS, ROUND_TRIPS, MARKET_ORDERS = 8, 1000, 500


async def _worker(account, count, kind, latencies):
    client = async_client(
        "sandbox", api_key=account.api_key, secret=account.secret, sandbox_url=account.base_url
    )
    client.enableRateLimit = False
    try:
        await client.load_markets()
        price = round((await client.fetch_ticker("BTC/USDT"))["bid"] * 0.9, 2)
        for _ in range(count):
            start = time.perf_counter()
            if kind == "limit":
                order = await client.create_order("BTC/USDT", "limit", "buy", 0.001, price)
                latencies.append(time.perf_counter() - start)
                start = time.perf_counter()
                await client.cancel_order(order["id"], "BTC/USDT")
            else:
                await client.create_order("BTC/USDT", "market", "buy", 0.0002)
            latencies.append(time.perf_counter() - start)
    finally:
        await client.close()


async def _phase(server, url, kind, total):
    accounts = [open_account(server, url, {"USDT": "1000000"}) for _ in range(CLIENTS)]
    latencies: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(_worker(a, total // CLIENTS, kind, latencies) for a in accounts))
    return time.perf_counter() - start, np.asarray(latencies) * 1000


STREAM_ORDERS, BOOK_SUBSCRIPTIONS = 100, 60


async def _stream_fills(account):
    import ccxt.pro as ccxt_pro

    client = point_at_sandbox(
        ccxt_pro.binance({"apiKey": account.api_key, "secret": account.secret}), account.base_url
    )
    client.enableRateLimit = False
    rest, stream = [], []
    try:
        await client.load_markets()
        watcher = asyncio.ensure_future(client.watch_my_trades("BTC/USDT"))
        while not any("myTrades:BTC/USDT" in c.futures for c in client.clients.values()):
            await asyncio.sleep(0.01)
        for _ in range(STREAM_ORDERS):
            start = time.perf_counter()
            order = await client.create_order("BTC/USDT", "market", "buy", 0.0002)
            rest.append(time.perf_counter() - start)
            while True:
                trades = await asyncio.wait_for(watcher, 10)
                watcher = asyncio.ensure_future(client.watch_my_trades("BTC/USDT"))
                if any(t["order"] == order["id"] for t in trades):
                    break
            stream.append(time.perf_counter() - start)
            await asyncio.sleep(0)
        watcher.cancel()
    finally:
        await client.close()
    return np.asarray(rest) * 1000, np.asarray(stream) * 1000


async def _book_syncs(url):
    import ccxt.pro as ccxt_pro

    async def one(i):
        client = point_at_sandbox(ccxt_pro.binance(), url)
        try:
            await client.load_markets()
            start = time.perf_counter()
            await client.watch_order_book(["BTC/USDT", "ETH/USDT", "ETH/BTC"][i % 3])
            await client.watch_order_book(["BTC/USDT", "ETH/USDT", "ETH/BTC"][i % 3])
            return time.perf_counter() - start
        finally:
            await client.close()

    return np.asarray(await asyncio.gather(*(one(i) for i in range(BOOK_SUBSCRIPTIONS)))) * 1000


def main() -> None:
    server, url = start_sandbox(weight_limit=10**9, venues=["sandbox"])
    try:
        elapsed, lat = asyncio.run(_phase(server, url, "limit", ROUND_TRIPS))
        print(
            f"limit place + cancel: {ROUND_TRIPS * 2 / elapsed:,.0f} requests/s "
            f"({ROUND_TRIPS} round trips, {CLIENTS} clients); per request p50 "
            f"{np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms"
        )
        elapsed, lat = asyncio.run(_phase(server, url, "market", MARKET_ORDERS))
        print(
            f"market orders filled: {MARKET_ORDERS / elapsed:,.0f} orders/s; p50 "
            f"{np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms"
        )
        account = open_account(server, url, {"USDT": "1000000"})
        rest, stream = asyncio.run(_stream_fills(account))
        print(
            f"market order sent -> REST answer p50 {np.percentile(rest, 50):.1f} ms, p99 "
            f"{np.percentile(rest, 99):.1f} ms; -> its fill on watch_my_trades p50 "
            f"{np.percentile(stream, 50):.1f} ms, p99 {np.percentile(stream, 99):.1f} ms "
            f"({STREAM_ORDERS} orders)"
        )
        books = asyncio.run(_book_syncs(url))
        print(
            f"{BOOK_SUBSCRIPTIONS} concurrent order-book subscriptions: snapshot + first diff "
            f"p50 {np.percentile(books, 50):.0f} ms, p99 {np.percentile(books, 99):.0f} ms "
            f"(tick {server.tick_seconds * 1000:.0f} ms)"
        )
    finally:
        server.stop_thread()


if __name__ == "__main__":
    main()
