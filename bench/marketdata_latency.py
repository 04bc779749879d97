"""Latency from a sandbox trade to its Redis message, and from a candle's close to its row.

Starts the sandbox exchange (`manage.py sandbox_exchange`, its own process, as in `make run`)
on a loopback port and, in this process, a collector (ccxt.pro streams) per venue for 3
symbols on 2 venues, writing to Postgres (DATABASE_URL, migrated) and Redis (REDIS_URL).
- trade -> Redis: wall clock, 20 s. For every trade, the time from the exchange's trade
  timestamp to the subscriber on `market:{exchange}:{symbol}` receiving it.
- candle close -> row: the market clock runs 60x (a minute per second) for 25 s so many bars
  close; per bar, the time from its end to the committed 1m row, converted back to real time.
Targets: trade -> Redis p99 < 50 ms; candle close -> row p99 < 100 ms.

Run: python bench/marketdata_latency.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import numpy as np  # noqa: E402
import redis.asyncio as redis_async  # noqa: E402
from django.conf import settings  # noqa: E402

from exchanges.sandbox.market import ScaledClock  # noqa: E402
from marketdata.collectors import Collector  # noqa: E402
from marketdata.models import Candle  # noqa: E402
from marketdata.publish import channel  # noqa: E402

VENUES = ["sandbox", "sandbox-b"]
SYMBOLS = ["BTC/USDT", "ETH/USDT", "ETH/BTC"]


async def _run(clock, url, seconds):
    client = redis_async.from_url(settings.REDIS_URL)
    listener = redis_async.from_url(settings.REDIS_URL)
    pubsub = listener.pubsub()
    await pubsub.subscribe(*[channel(v, s) for v in VENUES for s in SYMBOLS])
    trade_latencies: list[float] = []

    async def listen():
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            now_ms = clock.now() * 1000
            payload = json.loads(message["data"])
            if payload["type"] == "trades":
                trade_latencies.extend(now_ms - t["ts"] for t in payload["trades"])

    listener_task = asyncio.create_task(listen())
    collectors = [
        Collector(
            venue, SYMBOLS, redis_client=client, sandbox_url=url, mode="stream", clock=clock.now
        )
        for venue in VENUES
    ]
    await asyncio.gather(*(c.run(seconds=seconds) for c in collectors))
    print(f"  collected for {seconds} s", flush=True)
    listener_task.cancel()
    await asyncio.gather(listener_task, return_exceptions=True)
    await pubsub.aclose()
    await listener.aclose()
    await client.aclose()
    bars = [lat for c in collectors for lat in c.bar_latencies]
    corrections = sum(c.corrections for c in collectors)
    return trade_latencies, bars, corrections


def _pct(values, scale=1.0):
    array = np.asarray(values) * scale
    return np.percentile(array, 50), np.percentile(array, 99), array.max(), len(array)


@contextmanager
def sandbox_process(speed: float, origin: float):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "sandbox_exchange",
        "--port",
        str(port),
        "--venues",
        ",".join(VENUES),
        "--tick",
        "0.05",
        "--history-bars",
        "60",
        "--clock-speed",
        str(speed),
        "--clock-origin",
        str(origin),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/sandbox/api/v3/ping", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    import faulthandler

    faulthandler.dump_traceback_later(150, exit=True)  # a stuck run says where, then exits
    Candle.objects.filter(exchange__in=VENUES).delete()
    origin = time.time()
    with sandbox_process(1, origin) as url:
        trades, _, _ = asyncio.run(_run(ScaledClock(1, origin), url, 20))
    origin = time.time()
    with sandbox_process(60, origin) as url:
        _, bars, corrections = asyncio.run(_run(ScaledClock(60, origin), url, 25))
    rows = Candle.objects.filter(exchange__in=VENUES, timeframe="1m").count()
    Candle.objects.filter(exchange__in=VENUES).delete()
    p50, p99, worst, n = _pct(trades)
    print(
        f"trade -> Redis message: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms "
        f"({n:,} trades, 2 venues x 3 symbols, ccxt.pro streams)"
    )
    p50, p99, worst, n = _pct(bars, 1000 / 60)  # market seconds -> real milliseconds
    print(
        f"candle close -> 1m row committed: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {worst:.1f} ms ({n} bars, {rows} rows, {corrections} late-trade corrections; "
        "5m..1d derived after the commit)"
    )
    print("targets: trade -> Redis p99 < 50 ms; candle close -> row p99 < 100 ms")


if __name__ == "__main__":
    main()
