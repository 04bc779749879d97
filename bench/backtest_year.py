"""A one-year 1m backtest (525,600 bars) from Postgres to a finished results page (issue 11).

Seeds 525,600 1m candles of binance BTC/USDT into a database of its own (<name>_backtest_year,
next to DATABASE_URL's, dropped and recreated on every run), built deterministically from the
real Binance BTC/USDT 1m file (copies alternately forwards and time-reversed, as
bench/tradecore_bench.py does), creates a BacktestRun through the service (SMA 10/30
crossover, fee 0 so the account stays solvent all year, as on tradecore_bench's synthetic
series), runs the Celery task's function in this process, then GETs the results page with
Django's test client as the run's owner.

Prints, wall seconds: the candle load alone (strategies.selectors.backtest_candles, and
candles per second), then the task's parts (load, engine, results building, saving), the page,
and the total from the task's start to the page's last byte, with this process's CPU seconds
of each (Postgres' own time is not in them). `--repeat N` runs the task and the page N times
(the first is the first backtest of this process, imports done by the seeding and the load;
later runs are "warm") and checks the stored results are byte-identical across the reruns.

Run: python bench/backtest_year.py [--bars N] [--repeat N]   (needs DATABASE_URL, REDIS_URL)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

YEAR = 525_600
EXCHANGE, SYMBOL, TIMEFRAME = "binance", "BTC/USDT", "1m"
START = datetime(2025, 1, 1, tzinfo=UTC)
DATA = Path(os.environ.get("PEREGRINE_DATA_DIR", ROOT.parent / "shared" / "data"))
FILE = DATA / "binance_BTC-USDT_1m.csv.gz"


def _bench_database() -> str:
    """Create a fresh database next to DATABASE_URL's and return its URL."""
    import psycopg

    url = os.environ["DATABASE_URL"]
    parts = urlparse(url)
    name = f"{parts.path.lstrip('/') or 'peregrine'}_backtest_year"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parts._replace(path=f"/{name}"))


def _setup() -> None:
    os.environ["DATABASE_URL"] = _bench_database()
    os.environ.setdefault("PEREGRINE_ENV", "development")
    os.environ.setdefault("DJANGO_DEBUG", "false")  # as in production: no query log
    os.environ["PEREGRINE_COLLECTORS"] = ""
    os.environ["PEREGRINE_BACKTEST_FETCH_HISTORY"] = "none"  # the seeded year is complete
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _seed(bars: int) -> None:
    """`bars` 1m candles from START, prices of the real file (forwards, reversed, ...)."""
    from tradecore_bench import synthetic

    from marketdata.services.candles import candle_copy_upsert
    from tradecore.backtest import load_candles

    c = synthetic(load_candles(FILE), bars)
    ts = int(START.timestamp() * 1000) + np.arange(bars, dtype=np.int64) * 60_000
    rows = list(zip(ts.tolist(), *([repr(x) for x in col.tolist()] for col in (
        c.open, c.high, c.low, c.close, c.volume)), strict=True))  # fmt: skip
    for lo in range(0, bars, 100_000):
        candle_copy_upsert(exchange=EXCHANGE, symbol=SYMBOL, timeframe=TIMEFRAME,
                           bars=rows[lo : lo + 100_000])  # fmt: skip


class Clock:
    """Wall seconds per named step, summed over a run (the service's steps are wrapped)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def step(self, name: str):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu

    def wrap(self, module, attr: str, name: str) -> None:
        original = getattr(module, attr)

        def timed(*args, **kwargs):
            with self.step(name):
                return original(*args, **kwargs)

        setattr(module, attr, timed)


def _instrument(clock: Clock) -> None:
    """Time the service's steps where it calls them (the functions stay the same)."""
    from strategies import services

    clock.wrap(services, "_load_candles", "load candles")
    clock.wrap(services, "run_candles", "engine")
    for attr in ("results_build", "chart_indicators", "monthly_returns", "gaps_json",
                 "data_fingerprint", "_backtest_warnings"):  # fmt: skip
        clock.wrap(services, attr, "results")
    clock.wrap(services, "_move", "save")


def _load_alone(bars: int) -> None:
    from strategies.selectors import backtest_candles

    start_ms = int(START.timestamp() * 1000)
    end_ms = start_ms + bars * 60_000
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        candles = backtest_candles(
            exchange=EXCHANGE, symbol=SYMBOL, timeframe=TIMEFRAME, start_ms=start_ms, end_ms=end_ms
        )
        best = min(best, time.perf_counter() - start)
    assert candles is not None and len(candles) == bars
    print(f"candle load alone (one query of binary arrays to numpy, best of 3): {best:.3f} s, "
          f"{bars / best:,.0f} candles/s")  # fmt: skip


def _one_run(user, bars: int, label: str) -> str:
    from django.test import Client
    from django.urls import reverse

    from strategies import services, tasks
    from strategies.models import BacktestRun

    clock = Clock()
    _instrument(clock)
    run = services.backtest_run_create(
        user=user, strategy="sma_cross", params={"fast": 10, "slow": 30}, exchange=EXCHANGE,
        symbol=SYMBOL, timeframe=TIMEFRAME, start=START, end=START + timedelta(minutes=bars),
        cash="10000", fee_rate="0", slippage_bp=0,
    )  # fmt: skip
    client = Client()
    client.force_login(user)
    begin = time.perf_counter()
    with clock.step("task"):
        status = tasks.backtest_run_execute.run(run.pk)  # the Celery task's function
    with clock.step("page"):
        response = client.get(reverse("strategies:backtest-detail", args=[run.pk]))
        body = response.content
    total = time.perf_counter() - begin
    assert status == "done", (status, BacktestRun.objects.get(pk=run.pk).error)
    assert response.status_code == 200, response.status_code
    run.refresh_from_db()
    s = clock.seconds
    other = s["task"] - s["load candles"] - s["engine"] - s["results"] - s["save"]
    print(f"{label}: task {s['task']:.2f} s (load {s['load candles']:.2f}, engine "
          f"{s['engine']:.2f}, results {s['results']:.2f}, save {s['save']:.2f}, other "
          f"{other:.2f}); page {s['page']:.2f} s ({len(body) / 1e6:.2f} MB, "
          f"{run.results['metrics'].get('trade_count')} trades); total {total:.2f} s")  # fmt: skip
    c = clock.cpu
    print(f"  this process's CPU seconds: task {c['task']:.2f} (load {c['load candles']:.2f}, "
          f"engine {c['engine']:.2f}, results {c['results']:.2f}, save {c['save']:.2f}); "
          f"page {c['page']:.2f}")  # fmt: skip
    for module, attr in _wrapped():
        setattr(module, attr, _ORIGINALS[(module, attr)])
    return json.dumps(run.results, sort_keys=True)


_ORIGINALS: dict = {}


def _wrapped():
    from strategies import services

    return [(services, attr) for attr in ("_load_candles", "run_candles", "results_build",
            "chart_indicators", "monthly_returns", "gaps_json", "data_fingerprint",
            "_backtest_warnings", "_move")]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=YEAR)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        print("skipped: needs DATABASE_URL and REDIS_URL (make bench provides them)")
        return 0
    if not FILE.exists():
        print(f"skipped: {FILE} not found (set PEREGRINE_DATA_DIR)")
        return 0
    sys.stdout.reconfigure(line_buffering=True)
    _setup()
    for module, attr in _wrapped():
        _ORIGINALS[(module, attr)] = getattr(module, attr)
    from django.contrib.auth import get_user_model

    start = time.perf_counter()
    _seed(args.bars)
    print(f"seeded {args.bars:,} 1m candles in {time.perf_counter() - start:.1f} s "
          f"(wall seconds below; load average {os.getloadavg()[0]:.2f})")  # fmt: skip
    _load_alone(args.bars)
    user = get_user_model().objects.create_user("bench@example.com", "bench-pass-1")
    dumps = [_one_run(user, args.bars, "run 1 (first in this process)")]
    dumps += [_one_run(user, args.bars, f"run {k} (warm)") for k in range(2, args.repeat + 1)]
    if len(dumps) > 1:
        same = all(d == dumps[0] for d in dumps)
        print(f"results identical across the {len(dumps)} runs: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
