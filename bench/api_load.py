"""Open-loop load on the read API and pages: p50/p95/p99, achieved rate, errors, DB connections.

Data set (one user, seeded once per run): 8 paper bots (4 on BTC/USDT, 4 on ETH/USDT, all
running, one venue each), 6,000 fills (750 per bot, each with its order), 40 open orders,
one day of minute performance snapshots per bot (11,520 rows), ledger checkpoints as the
minute snapshot task leaves them, and a live mark per market in Redis; then ANALYZE (the
planner's statistics, as autovacuum keeps them on a live database). The API is called with
a read token (`Authorization: Bearer`), the pages with a signed-in session cookie.

Endpoints: /api/v1/me/, /api/v1/bots/, /api/v1/fills/, /api/v1/portfolio/, the HTML bot list
(/trading/bots/), the dashboard (/) and the portfolio page (/portfolio/). Each endpoint gets a
FRESH uvicorn process (one process, config.asgi as `make run` serves it, with its connection
pool, PEREGRINE_ENV=development with DJANGO_DEBUG=false, logs at WARNING), which is then
WARMED with 20 sequential requests (not counted: imports, template loading, the connection
pool's first connections), then offered 50, 100 and 200 requests/s in turn
for `--seconds` each (default 10), on that same warm process. Requests are sent on schedule
whatever the server does (open loop: a slow server does not slow the offered load), each on
its own TCP connection, with a 10 s time-out; latency is measured from the scheduled send
time, so queueing counts. An error is any non-2xx answer or a time-out / refused connection.

The server's PostgreSQL connections (pg_stat_activity for the bench database, this script's
own sampler excluded) are sampled every 100 ms: the peak during each rate, and the count 5 s
after the last rate ends ("after").

Each rate also prints the server process's CPU per request (user + system, all its threads,
from psutil): the figure the machine's load moves least. The servers' output goes to a
temporary file (its path and ERROR line count are printed at the end; the warm-up's /healthz
answers 503 without a worker, 2 lines per endpoint).

The load generator runs in this process, on the same machine as the server (asyncio, raw
HTTP/1.1). `--check-generator` first offers the rates to a trivial HTTP server in another
process (no Django) and prints what the generator achieves and its own CPU: about 7% of a core
at 200 requests/s, so it is not the bottleneck. `--profile DIR` records the server with py-spy
(PY_SPY or on PATH) during the top rate, as raw stacks per endpoint (`--profile-gil`: only the
thread holding the GIL, i.e. where the CPU goes).
Uses DATABASE_URL's server with a database of its own (<name>_api_load, recreated) and
REDIS_URL. Run: python bench/api_load.py [--seconds 10] [--rates 50,100,200] [--only me,bots]
[--web-workers 1] [--check-generator] [--profile DIR [--profile-gil]] (make run starts one web
process per core; the default measures one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOTS = 8
FILLS_PER_BOT = 750
OPEN_ORDERS_PER_BOT = 5
SNAPSHOT_MINUTES = 24 * 60
TIMEOUT = 10.0
ENDPOINTS = {
    "me": ("/api/v1/me/", "token"),
    "bots": ("/api/v1/bots/", "token"),
    "fills": ("/api/v1/fills/", "token"),
    "portfolio": ("/api/v1/portfolio/", "token"),
    "bot-list": ("/trading/bots/", "session"),
    "dashboard": ("/", "session"),
    "portfolio-page": ("/portfolio/", "session"),
}


def _database() -> str:
    import psycopg

    url = os.environ["DATABASE_URL"]
    parts = urlparse(url)
    name = f"{parts.path.lstrip('/') or 'peregrine'}_api_load"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parts._replace(path=f"/{name}"))


def _setup() -> None:
    os.environ["DATABASE_URL"] = _database()
    os.environ["PEREGRINE_ENV"] = "development"
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["PEREGRINE_COLLECTORS"] = ""
    os.environ["LOG_LEVEL"] = "WARNING"
    # one token offers up to 200 requests/s here: above the API's per-user rate limit (429s)
    os.environ.setdefault("PEREGRINE_API_RATE_USER", "1000000/min")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def _seed() -> tuple[str, str]:
    """The user, bots, fills, orders, snapshots and marks; returns (token, session cookie)."""
    from allauth.account.models import EmailAddress
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.services.tokens import api_token_create
    from marketdata.publish import ticker_key
    from portfolio.marks import _redis
    from portfolio.models import BotPerformance
    from portfolio.services import bot_ledger_checkpoint
    from trading.models import Bot, BotVenue, Fill, Order

    email = "load@example.com"
    user = get_user_model().objects.create_user(email=email, password="load-bench-password-1")
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=3)
    prices = {"BTC/USDT": Decimal("60000"), "ETH/USDT": Decimal("3000")}
    for index in range(BOTS):
        symbol = "BTC/USDT" if index % 2 == 0 else "ETH/USDT"
        base = symbol.split("/")[0]
        bot = Bot.objects.create(
            user=user, name=f"load bot {index}", strategy="pure_market_making",
            symbols=[symbol], budget=Decimal("100000"), status="running",
            paper_balances={"sandbox": {"USDT": "100000", base: "10"}},
        )  # fmt: skip
        BotVenue.objects.create(bot=bot, exchange="sandbox")
        price, orders, fills = prices[symbol], [], []
        for n in range(FILLS_PER_BOT + OPEN_ORDERS_PER_BOT):
            price = (price * Decimal(1 + rng.uniform(-0.002, 0.002))).quantize(Decimal("0.01"))
            qty = Decimal(rng.randint(1, 50)) / 1000
            side = rng.choice(("buy", "sell"))
            is_open = n >= FILLS_PER_BOT
            orders.append(
                Order(
                    bot=bot,
                    user=user,
                    mode="paper",
                    exchange="sandbox",
                    symbol=symbol,
                    client_order_id=f"pg{bot.pk}-load-{n}",
                    side=side,
                    type="limit",
                    price=price,
                    qty=qty,
                    filled_qty=Decimal(0) if is_open else qty,
                    status="open" if is_open else "filled",
                )  # fmt: skip
            )
        Order.objects.bulk_create(orders, batch_size=1000)
        for n, order in enumerate(orders[:FILLS_PER_BOT]):
            fills.append(
                Fill(
                    bot=bot,
                    order=order,
                    user=user,
                    mode="paper",
                    exchange="sandbox",
                    account_key=f"paper-{bot.pk}",
                    symbol=symbol,
                    trade_id=f"t{n}",
                    side=order.side,
                    price=order.price,
                    qty=order.qty,
                    fee=(order.price * order.qty / 1000).quantize(Decimal("0.00000001")),
                    fee_asset="USDT",
                    liquidity="maker",
                    executed_at=start + timedelta(minutes=5 * n),
                    source="paper",
                )  # fmt: skip
            )
        Fill.objects.bulk_create(fills, batch_size=1000)
        bot_ledger_checkpoint(bot=bot)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        BotPerformance.objects.bulk_create(
            [
                BotPerformance(
                    bot=bot,
                    at=now - timedelta(minutes=m),
                    valuation_asset="USDT",
                    total_value=Decimal(100000 + rng.uniform(-500, 500)).quantize(Decimal("0.01")),
                    cash=Decimal(50000),
                    crypto=Decimal(50000),
                    trades=FILLS_PER_BOT,
                )  # fmt: skip
                for m in range(SNAPSHOT_MINUTES)
            ],
            batch_size=2000,
        )
    redis = _redis()
    for symbol, price in prices.items():
        value = f'{{"bid": "{price - 1}", "ask": "{price + 1}", "last": "{price}"}}'
        redis.set(ticker_key("sandbox", symbol), value, ex=3600)
    token = api_token_create(user=user, name="load", scope="read")[1]
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    from django.db import connection, connections

    with connection.cursor() as cursor:  # planner statistics, as autovacuum keeps them live
        cursor.execute("ANALYZE")
    connections.close_all()
    return token, cookie


WEB_WORKERS = 1
PROFILE_DIR: Path | None = None
PROFILE_GIL = False
SERVER_LOG = None  # the servers' output (a temporary file): its errors are counted, not printed


def _serve() -> tuple[subprocess.Popen, int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--lifespan", "off", "--no-access-log", "--backlog", "4096",
         "--workers", str(WEB_WORKERS)],
        cwd=ROOT, env=dict(os.environ), start_new_session=True,
        stdout=SERVER_LOG, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return server, port
        except Exception as exc:
            if getattr(exc, "code", None) is not None:
                return server, port
            time.sleep(0.2)
    server.kill()
    raise SystemExit("uvicorn did not start")


async def _get(port: int, path: str, headers: str) -> int:
    """One GET on a fresh connection; the status code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        while await reader.read(65536):
            pass
        return status
    finally:
        writer.close()


async def _offer(port: int, path: str, headers: str, rate: int, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    results: list[tuple[float, bool]] = []
    start = loop.time() + 0.05
    total = int(rate * seconds)

    async def one(at: float) -> None:
        await asyncio.sleep(max(0.0, at - loop.time()))
        try:
            status = await asyncio.wait_for(_get(port, path, headers), TIMEOUT)
            ok = 200 <= status < 300
        except (TimeoutError, OSError, ValueError, IndexError):
            ok = False
        results.append((loop.time() - at, ok))

    await asyncio.gather(*(one(start + i / rate) for i in range(total)))
    elapsed = max(loop.time() - start, seconds)
    ok = sorted(latency for latency, good in results if good)
    return {
        "ok": len(ok),
        "errors": total - len(ok),
        "rate": len(ok) / elapsed,
        "p": [_quantile(ok, q) for q in (0.50, 0.95, 0.99)],
    }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


class Connections:
    """Samples the bench database's connections in pg_stat_activity (this sampler excluded)."""

    def __init__(self):
        import psycopg

        self.conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
        self.name = urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
        self.peak, self._stop = 0, threading.Event()

    def now(self) -> int:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        return self.conn.execute(sql, (self.name,)).fetchone()[0]

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.now())

    def __enter__(self):
        self.peak, self._stop = self.now(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _ms(value: float | None) -> str:
    return "     -" if value is None else f"{value * 1000:6.0f}"


_TRIVIAL_SERVER = """
import asyncio, sys
ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok"
async def serve(reader, writer):
    while (await reader.readline()) not in (b"\\r\\n", b""):
        pass
    writer.write(ANSWER)
    await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_generator(rates: list[int], seconds: float) -> None:
    """The load generator against a server that answers at once (a separate process, no
    Django): what it can offer on this machine, and its own CPU per rate."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", _TRIVIAL_SERVER, str(port)])
    try:
        time.sleep(0.5)
        for rate in rates:
            cpu = time.process_time()
            figures = asyncio.run(_offer(port, "/", "", rate, seconds))
            cpu = (time.process_time() - cpu) / max(seconds, 0.001)
            p50, p95, p99 = figures["p"]
            print(
                f"{'generator':>14} {rate:5d}/s  achieved {figures['rate']:6.1f}/s  "
                f"p50 {_ms(p50)}  p95 {_ms(p95)}  p99 {_ms(p99)} ms  "
                f"errors {figures['errors']:5d}  generator CPU {cpu:4.0%} of a core",
                flush=True,
            )
    finally:
        server.kill()
        server.wait()


def _profile(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    """py-spy (PY_SPY or on PATH) records the server, all its threads, for `seconds`."""
    py_spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not py_spy:
        print("py-spy not found (PY_SPY or PATH): no profile", flush=True)
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
            "--format", "raw", "--output", str(out), "--nonblocking", "--threads"]  # fmt: skip
    if PROFILE_GIL:
        argv.append("--gil")  # only the thread holding the GIL: where the CPU goes
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _measure(name: str, rates: list[int], seconds: float, token: str, cookie: str, db) -> None:
    path, auth = ENDPOINTS[name]
    headers = f"Authorization: Bearer {token}\r\n" if auth == "token" else f"Cookie: {cookie}\r\n"
    server, port = _serve()
    try:
        for _ in range(20):  # warm-up, not counted
            asyncio.run(_get(port, path, headers))
        for rate in rates:
            spy = None
            if PROFILE_DIR is not None and rate == max(rates):
                spy = _profile(server.pid, seconds, PROFILE_DIR / f"{name}-{rate}.txt")
            cpu = _cpu(server.pid)
            with db:
                figures = asyncio.run(_offer(port, path, headers, rate, seconds))
            cpu = (_cpu(server.pid) - cpu) / max(figures["ok"] + figures["errors"], 1)
            if spy is not None:
                try:
                    spy.wait(seconds + 60)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait()
            p50, p95, p99 = figures["p"]
            print(
                f"{name:>14} {rate:5d}/s  achieved {figures['rate']:6.1f}/s  "
                f"p50 {_ms(p50)}  p95 {_ms(p95)}  p99 {_ms(p99)} ms  "
                f"errors {figures['errors']:5d}/{figures['ok'] + figures['errors']:<5d}  "
                f"peak db connections {db.peak}  server CPU {cpu * 1000:5.1f} ms/request",
                flush=True,
            )
        time.sleep(5)
        print(f"{name:>14} db connections 5 s after the load: {db.now()}", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:  # still working through a backlog: not measured
            server.kill()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="50,100,200")
    parser.add_argument("--only", default=",".join(ENDPOINTS))
    parser.add_argument("--web-workers", type=int, default=1, help="uvicorn processes")
    parser.add_argument(
        "--check-generator", action="store_true", help="first offer the rates to a trivial server"
    )
    parser.add_argument("--profile", type=Path, help="py-spy the server at the top rate, into DIR")
    parser.add_argument("--profile-gil", action="store_true", help="sample only the GIL's holder")
    args = parser.parse_args()
    global WEB_WORKERS, PROFILE_DIR, PROFILE_GIL, SERVER_LOG
    WEB_WORKERS, PROFILE_DIR, PROFILE_GIL = args.web_workers, args.profile, args.profile_gil
    SERVER_LOG = tempfile.NamedTemporaryFile(prefix="api_load-server-", suffix=".log", delete=False)
    rates = [int(rate) for rate in args.rates.split(",")]
    if args.check_generator:
        _check_generator(rates, args.seconds)
    if not args.only:  # --only "": the generator check alone
        return
    _setup()
    token, cookie = _seed()
    load = os.getloadavg()
    print(
        f"data: {BOTS} bots, {BOTS * FILLS_PER_BOT} fills, {BOTS * OPEN_ORDERS_PER_BOT} open "
        f"orders, {BOTS * SNAPSHOT_MINUTES} snapshots; load average before "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores",
        flush=True,
    )
    db = Connections()
    for name in args.only.split(","):
        _measure(name, rates, args.seconds, token, cookie, db)
    SERVER_LOG.close()
    errors = sum("ERROR" in line for line in open(SERVER_LOG.name, errors="replace"))
    print(f"servers' output: {SERVER_LOG.name} ({errors} lines with ERROR)")
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
