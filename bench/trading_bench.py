"""The bot runtime under load: N paper bots on one Celery worker, each re-quoting every second.

Everything is real: a sandbox exchange (in this process), a marketdata collector following its
streams and publishing on Redis, one Celery worker (thread pool) running every bot's leased
loop, Postgres for the books. Each bot is a pure market maker on the same market with a 1 s
timer and a 1 s refresh, trading on its own paper venue fed by the collector's books.

Reported: strategy ticks per second (market events and timers handled, all bots), whether every
bot kept its 1 s timer, the latency from a market event (the exchange's timestamp of the book)
to the resulting order being on the paper venue and committed to the books (p50/p99), and the
worker's CPU and memory. Target (issue 6): all bots keep their refresh, p99 < 250 ms.

Run: python bench/trading_bench.py [--bots 100] [--seconds 60]
It uses DATABASE_URL's server with a database of its own (<name>_trading_bench, recreated) and
REDIS_URL (as `make bench` provides them).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VENUE = f"bench{secrets.token_hex(2)}"


def _bench_database(suffix: str = "trading_bench") -> str:
    """Create a fresh database next to DATABASE_URL's and return its URL."""
    import psycopg

    url = os.environ["DATABASE_URL"]
    parts = urlparse(url)
    name = f"{parts.path.lstrip('/') or 'peregrine'}_{suffix}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parts._replace(path=f"/{name}"))


def _setup(venue: str = VENUE, suffix: str = "trading_bench") -> None:
    """Django on a fresh database of the bench's own, with `venue` as an extra sandbox venue
    (the trading benches share it; their worker processes inherit the environment)."""
    os.environ["DATABASE_URL"] = _bench_database(suffix)
    os.environ.setdefault("PEREGRINE_ENV", "development")
    os.environ.setdefault("DJANGO_DEBUG", "false")  # as in production: no query log
    os.environ["PEREGRINE_COLLECTORS"] = ""
    os.environ["PEREGRINE_SANDBOX_VENUES"] = f"sandbox,sandbox-b,{venue}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _collector(url: str, stop: threading.Event) -> threading.Thread:
    import asyncio

    import redis.asyncio as redis_async
    from django.conf import settings

    from marketdata.collectors import Collector

    async def run() -> None:
        client = redis_async.from_url(settings.REDIS_URL)
        collector = Collector(VENUE, ["BTC/USDT"], redis_client=client, sandbox_url=url)
        task = asyncio.create_task(collector.run())
        while not stop.is_set():
            await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()

    thread = threading.Thread(target=lambda: asyncio.run(run()), name="collector", daemon=True)
    thread.start()
    return thread


def _bots(count: int, refresh_ms: int) -> list:
    from accounts.models import User
    from trading.services.bots import bot_create

    user = User.objects.create_user(email=f"bench-{secrets.token_hex(3)}@example.com")
    params = {
        "order_amount": "0.001",
        "bid_spread": "0.0005",
        "ask_spread": "0.0005",
        "order_refresh_time_ms": refresh_ms,
        "filled_order_delay_ms": 0,
    }
    return [
        bot_create(
            user=user,
            name=f"bench-{i:03d}",
            strategy="pure_market_making",
            params=params,
            symbols=["BTC/USDT"],
            venues=[VENUE],
            budget="10000",
            timer_ms=refresh_ms,
            paper_balances={VENUE: {"USDT": "10000", "BTC": "0.1"}},
        )  # fmt: skip
        for i in range(count)
    ]


def _worker(url: str, threads: int, slice_seconds: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PEREGRINE_SANDBOX_URL": url,
        "PEREGRINE_BOT_SLICE_SECONDS": str(slice_seconds),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "bots", "-P", "threads",
         "-c", str(threads), "-n", "bench@%h", "--without-mingle", "--without-gossip",
         "--loglevel", "WARNING"],
        env=env, cwd=ROOT, start_new_session=True,
    )  # fmt: skip


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--refresh-ms", type=int, default=1000)
    parser.add_argument("--slice-seconds", type=int, default=60, help="as in production")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        print("skipped: needs DATABASE_URL and REDIS_URL (make bench provides them)")
        return 0
    _setup()
    import psutil
    from django.conf import settings
    from django.db.models import Sum

    from exchanges.sandbox.app import build_server
    from trading.models import Bot, BotEvent, Order
    from trading.services.bots import bot_start

    server = build_server([VENUE], tick_seconds=0.25, history_bars=120)
    url = server.start_in_thread()
    settings.PEREGRINE_SANDBOX_URL = url
    stop = threading.Event()
    collector = _collector(url, stop)
    bots = _bots(args.bots, args.refresh_ms)
    slice_seconds = args.slice_seconds
    worker = _worker(url, args.bots + 10, slice_seconds)
    process = psutil.Process(worker.pid)
    try:
        time.sleep(8)  # the worker imports Django, Celery and ccxt
        for bot in bots:
            bot_start(bot=bot)
        deadline = time.monotonic() + 120
        ids = [b.pk for b in bots]
        while Bot.objects.filter(pk__in=ids, status="running").count() < len(ids):
            if time.monotonic() > deadline:
                raise SystemExit("bots did not all start within 120 s")
            time.sleep(0.5)
        time.sleep(10)  # steady state: past the start-up of a hundred bots
        from django.utils import timezone

        measured_from = timezone.now()
        cpu_before = process.cpu_times()
        wall_before = time.monotonic()
        time.sleep(args.seconds)
        wall = time.monotonic() - wall_before
        cpu_after = process.cpu_times()
        rss = process.memory_info().rss
        time.sleep(slice_seconds + 2)  # let the current slices end and report
    finally:
        stop.set()
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        collector.join(5)
        server.stop_thread()
    cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / wall
    slices = BotEvent.objects.filter(bot_id__in=ids, kind="slice", at__gte=measured_from)
    seconds = [s.data.get("seconds", 0) for s in slices]
    ticks = sum(s.data.get("events", 0) + s.data.get("timers", 0) for s in slices)
    slice_seconds_total = sum(seconds)
    timers_per_second = [
        s.data.get("timers", 0) / s.data["seconds"] for s in slices if s.data.get("seconds")
    ]
    kept = sum(1 for r in timers_per_second if r >= 0.95 * 1000 / args.refresh_ms)
    orders = Order.objects.filter(bot_id__in=ids, created_at__gte=measured_from)
    latencies = [
        (o.sent_at.timestamp() * 1000 - o.trigger_ms)
        for o in orders.exclude(sent_at=None).exclude(trigger_ms=None)
    ]
    fills = orders.aggregate(n=Sum("filled_qty"))["n"]
    first, continued = {}, []
    for event in BotEvent.objects.filter(bot_id__in=ids, kind="slice").order_by("at"):
        if event.bot_id in first:
            continued.append(event.data.get("start_ms", 0))
        else:
            first[event.bot_id] = event.data.get("start_ms", 0)
    starts = list(first.values())
    bots_with_orders = orders.values("bot_id").distinct().count()
    print(f"trading bench: {args.bots} paper bots, 1 worker (thread pool), {args.seconds} s")
    print(f"  ticks handled:      {ticks / max(slice_seconds_total, 1e-9) * len(ids):,.0f}/s "
          f"(market events + timers, all bots)")  # fmt: skip
    print(f"  refresh kept:       {kept} of {len(timers_per_second)} bot slices ran their 1 s "
          f"timer at >= 95% of the rate; {bots_with_orders} of {len(ids)} bots quoted")  # fmt: skip
    print(f"  event -> order:     p50 {_percentile(latencies, 0.50):.0f} ms, "
          f"p99 {_percentile(latencies, 0.99):.0f} ms over {len(latencies)} orders "
          f"(exchange timestamp of the book -> order on the paper venue, committed)")  # fmt: skip
    print(f"  worker:             CPU {cpu * 100:.0f}% of one core, RSS {rss / 2**20:.0f} MiB")
    print(f"  slice start:        first start p50 {_percentile(starts, 0.5):.0f} ms (lease, "
          f"books, reconciliation); next slices p50 {_percentile(continued, 0.5):.0f} ms, "
          f"p99 {_percentile(continued, 0.99):.0f} ms (lease taken over, state kept)")  # fmt: skip
    print(f"  filled quantity:    {fills or 0} BTC across all bots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
