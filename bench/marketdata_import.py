"""Candles imported into Postgres per second (target >= 100,000/s), through COPY + upsert.

Data: the three real Binance 1m files in $PEREGRINE_DATA_DIR (BTC/USDT, ETH/USDT, ETH/BTC;
143,026 bars), imported under a scratch exchange name that is deleted afterwards. Measured:
parse+check+write (import_ohlcv's path, without the 5m..1d derivation) and the write alone:
fresh inserts, the same rows again as updates (the upsert path), and the three files written
at once on three connections.

Run: python bench/marketdata_import.py   (needs DATABASE_URL, migrated)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from marketdata.models import Candle  # noqa: E402
from marketdata.services.candles import candle_copy_upsert  # noqa: E402
from marketdata.services.importer import read_candle_file  # noqa: E402

FILES = ["binance_BTC-USDT_1m.csv.gz", "binance_ETH-USDT_1m.csv.gz", "binance_ETH-BTC_1m.csv.gz"]
EXCHANGE = "bench-import"


def _write(parsed) -> None:
    try:
        candle_copy_upsert(
            exchange=EXCHANGE, symbol=parsed.symbol, timeframe=parsed.timeframe, bars=parsed.bars
        )
    finally:
        connection.close()


def main() -> None:
    data = Path(settings.PEREGRINE_DATA_DIR)
    paths = [data / f for f in FILES if (data / f).is_file()]
    if not paths:
        print(f"skipped: no candle files in {data}")
        return
    Candle.objects.filter(exchange=EXCHANGE).delete()
    try:
        start = time.perf_counter()
        parsed = [read_candle_file(p, exchange=EXCHANGE) for p in paths]
        parse_seconds = time.perf_counter() - start
        total = sum(len(f.bars) for f in parsed)
        timings = []
        for _ in range(2):  # first inserts, then the same rows again as updates
            start = time.perf_counter()
            for f in parsed:
                candle_copy_upsert(
                    exchange=EXCHANGE, symbol=f.symbol, timeframe=f.timeframe, bars=f.bars
                )
            timings.append(time.perf_counter() - start)
        assert Candle.objects.filter(exchange=EXCHANGE).count() == total
        Candle.objects.filter(exchange=EXCHANGE).delete()
        start = time.perf_counter()
        with ThreadPoolExecutor(len(parsed)) as pool:  # one connection per file
            list(pool.map(_write, parsed))
        parallel = time.perf_counter() - start
        assert Candle.objects.filter(exchange=EXCHANGE).count() == total
    finally:
        Candle.objects.filter(exchange=EXCHANGE).delete()
    print(f"data: {len(paths)} real Binance 1m files, {total:,} candles")
    print(f"parse+check:                   {total / parse_seconds:,.0f} candles/s")
    print(f"write, fresh inserts (COPY):   {total / timings[0]:,.0f} candles/s")
    print(f"write, upsert of existing:     {total / timings[1]:,.0f} candles/s")
    print(
        f"write, {len(parsed)} files on {len(parsed)} connections: "
        f"{total / parallel:,.0f} candles/s"
    )
    print(f"end to end (parse + insert):   {total / (parse_seconds + timings[0]):,.0f} candles/s")
    print("target: >= 100,000 candles/s into Postgres")


if __name__ == "__main__":
    main()
