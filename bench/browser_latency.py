"""Event -> DOM latency in a real browser (headless Chromium), p50/p95 over 200+ events a page.

Pages measured, each on its own live socket, events sent one at a time (the next once the page
has shown the previous), latency = the DOM time a MutationObserver records - the send time
(same machine, same clock):

- dashboard (/, /ws/events/): a fill event through trading.events (the runtime's path) becomes
  a feed line;
- market page (/marketdata/markets/<venue>/BTC-USDT/, /ws/markets/...): the collector's Redis
  messages, alternately a trade (shown in the recent trades) and a book (the ladder's top bid);
- bot page (/trading/bots/<id>/, /ws/bots/<id>/): a fill booked and its event sent; the
  consumer re-renders the fills at once (events that come while it renders join the next
  push; 3 pushes back to back, then 10 a second) and the chart adds the marker;
- portfolio (/portfolio/, /ws/events/): a fill booked and its event sent; the page refetches
  its sections and the bots' table shows the new trade count;
- arbitrage tracker (/marketdata/markets/arbitrage/?size=100, /ws/arbitrage/100/): books moved
  and a scan run (the worker's arbitrage_scan, which announces it); the board is re-rendered
  with the scan's time. The time is stamped before the scan, so it includes the scan itself;
- bot list (/trading/bots/, /ws/bots/): a status event re-renders the bot's row at once.

Measured 2026-12-04 (200 events a page, warm server after each page's first event, 2 cores
shared with other busy processes, load average 10-11): p50 / p95 dashboard 7 / 18 ms, market
5 / 19 ms, bot page 118 / 229 ms, portfolio 103 / 164 ms, arbitrage 61 / 99 ms (scan alone
39 / 73 ms), bot list 86 / 125 ms; the first event of a page is the slowest (cold caches, up to
2 s). Events one right after the other come faster than the bot sockets' rate limit (3 pushes
back to back, then 10 a second): the bot list's figure is mostly that limit (fastest 14 ms).
Before the bot sockets pushed at once (a fixed 250 ms window): bot page 383 / 447 ms, bot list
310 / 356 ms.
Trading panel, measured 2026-12-04 (200 events, warm server, same machine, load average 8-10):
p50 49 ms, p95 85 ms, first event 943 ms (dashboard in the same run: 4 / 11 ms).

Uses DATABASE_URL's server with a database of its own (<name>_browser_bench, recreated),
REDIS_URL, and the system's Chromium (PEREGRINE_CHROMIUM, default /usr/bin/chromium).
Run: python bench/browser_latency.py [events per page] [page ...]
  (pages: dashboard market bot portfolio arbitrage botlist trade; all by default)
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = os.environ.get("PEREGRINE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
PAGES = sys.argv[2:] or [
    "dashboard", "market", "bot", "portfolio", "arbitrage", "botlist", "trade"
]  # fmt: skip
VENUE = "benchx"  # no exchange of that name: nothing is fetched from a network
ARB_VENUES = ("bencharba", "bencharbb")
SANDBOX_VENUE = "benchsandbox"  # the trading panel's exchange: a sandbox the bench starts
_sandbox: list = []  # (server, url) once started

# window.check(seq, expected) is tried on every DOM change while window.pending is set; the
# first change that satisfies it records Date.now() as the event's DOM time. CHECK is replaced
# by the scenario's function: the whole is compiled through the DevTools protocol (page.evaluate),
# which the pages' Content-Security-Policy does not govern (it refuses eval and
# page.wait_for_function's compiling in the page).
OBSERVER = """() => {
  window.seen = {};
  window.pending = null;
  window.check = CHECK;
  const grab = () => {
    const p = window.pending;
    if (p !== null && window.check(p.seq, p.expected)) {
      window.seen[p.seq] = Date.now();
      window.pending = null;
    }
  };
  new MutationObserver(grab).observe(document.body, {subtree: true, childList: true,
    characterData: true, attributes: true});
}"""


def _wait(page, predicate: str, timeout_s: float = 60) -> None:
    """Poll a JavaScript expression through page.evaluate until truthy (hang guard: timeout)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout_s:.0f} s: {predicate}")
        page.wait_for_timeout(5)


def _database() -> str:
    import psycopg

    url = os.environ["DATABASE_URL"]
    parts = urlparse(url)
    name = f"{parts.path.lstrip('/') or 'peregrine'}_browser_bench"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parts._replace(path=f"/{name}"))


def _setup() -> None:
    os.environ["DATABASE_URL"] = _database()
    if "trade" in PAGES:  # before Django reads its settings, here and in the server
        os.environ["PEREGRINE_SANDBOX_VENUES"] = f"sandbox,sandbox-b,{SANDBOX_VENUE}"
    os.environ.setdefault("PEREGRINE_ENV", "development")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ["PEREGRINE_COLLECTORS"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # ORM calls beside Playwright's loop
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    if "trade" in PAGES:
        from django.conf import settings

        from exchanges.sandbox.testing import start_sandbox

        _sandbox.extend(start_sandbox(venues=[SANDBOX_VENUE], weight_limit=10**9))
        os.environ["PEREGRINE_SANDBOX_URL"] = settings.PEREGRINE_SANDBOX_URL = _sandbox[1]


def _serve() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--lifespan", "off", "--no-access-log"],
        cwd=ROOT, env=dict(os.environ), start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
            return server, base
        except Exception as exc:
            if getattr(exc, "code", None) is not None:
                return server, base
            time.sleep(0.2)
    raise SystemExit("uvicorn did not start")


def _sender(layer):
    """group_send on a loop of its own (Playwright's sync API holds this thread's loop)."""
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def send(group: str, message: dict) -> None:
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(10)

    return send


def _user():
    from allauth.account.models import EmailAddress
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    email = f"bench-{secrets.token_hex(3)}@example.com"
    user = get_user_model().objects.create_user(email=email, password=secrets.token_hex(16))
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    client = Client()
    client.force_login(user)
    return user, client.cookies[settings.SESSION_COOKIE_NAME].value


def _bot(user, name: str):
    from decimal import Decimal

    from trading.models import Bot, BotVenue

    bot = Bot.objects.create(
        user=user, name=name, strategy="pure_market_making", symbols=["BTC/USDT"],
        budget=Decimal("1000"), paper_balances={VENUE: {"USDT": "100000"}}, status="running",
    )  # fmt: skip
    BotVenue.objects.create(bot=bot, exchange=VENUE)
    return bot


def _market_data():
    """An instrument with two hours of 1m bars, and a live book, on the bench's venue."""
    import json

    import redis
    from django.conf import settings

    from marketdata.models import Instrument
    from marketdata.services.candles import candle_copy_upsert, candle_derive_all

    Instrument.objects.get_or_create(
        exchange=VENUE, symbol="BTC/USDT",
        defaults={"base": "BTC", "quote": "USDT", "price_step": "0.01", "amount_step": "0.0001"},
    )  # fmt: skip
    now = int(time.time() * 1000)
    end = now - now % 60_000
    bars = [(end - (120 - i) * 60_000, "30000", "30010", "29990", "30000", "1", 5)
            for i in range(121)]  # fmt: skip
    candle_copy_upsert(exchange=VENUE, symbol="BTC/USDT", timeframe="1m", bars=bars)
    candle_derive_all(exchange=VENUE, symbol="BTC/USDT")
    _book(redis.Redis.from_url(settings.REDIS_URL), VENUE, 29999.5, 30000.5, json)


def _book(client, exchange, bid, ask, json):
    from marketdata.publish import book_key, channel

    payload = {
        "type": "book", "exchange": exchange, "symbol": "BTC/USDT",
        "ts": int(time.time() * 1000),
        "bids": [[bid - i, 1.0] for i in range(5)], "asks": [[ask + i, 1.0] for i in range(5)],
        "nonce": None,
    }  # fmt: skip
    text = json.dumps(payload)
    client.set(book_key(exchange, "BTC/USDT"), text, ex=600)
    client.publish(channel(exchange, "BTC/USDT"), text)


_fills = iter(range(1, 10**9))


def _fill(bot, price: str):
    from decimal import Decimal

    from django.utils import timezone

    from trading.models import Fill, Order

    n = next(_fills)
    order = Order.objects.create(
        bot=bot, user=bot.user, mode="paper", exchange=VENUE, symbol="BTC/USDT",
        client_order_id=f"pg{bot.pk}-b{n}", side="buy", type="market", qty=Decimal("0.001"),
        filled_qty=Decimal("0.001"), status="filled",
    )  # fmt: skip
    return Fill.objects.create(
        bot=bot, order=order, user=bot.user, mode="paper", exchange=VENUE,
        account_key=f"paper-{bot.pk}", symbol="BTC/USDT", trade_id=f"B{n}", side="buy",
        price=Decimal(price), qty=Decimal("0.001"), fee=Decimal("0.03"), fee_asset="USDT",
        executed_at=timezone.now(), source="paper",
    )  # fmt: skip


def _fill_event(bot, fill) -> None:
    """The fill's event through the runtime's path (trading.events), waited until sent."""
    from trading.events import bot_event, bot_events_send, events_flush

    data = {"fills": [{"id": fill.pk, "side": fill.side, "qty": str(fill.qty),
                       "price": str(fill.price), "symbol": fill.symbol,
                       "exchange": fill.exchange}]}  # fmt: skip
    bot_events_send(bot_id=bot.pk, user_id=bot.user_id,
                    events=[bot_event(bot_id=bot.pk, kind="fill", data=data)])  # fmt: skip
    events_flush()


class Scenario:
    """One page: where it is, what its socket is, what an event is and how the DOM shows it.

    `fire(seq)` makes event `seq` happen and returns (send time in ms, expected); the page's
    `check(seq, expected)` is true once the DOM shows it."""

    name = ""
    title = ""
    socket = ""
    check = ""
    note = ""

    def __init__(self, user):
        self.user = user

    def path(self) -> str:
        raise NotImplementedError

    def ready(self, page) -> None:
        """Wait until the page has loaded what it needs before the first event."""

    def expected(self, page, seq):
        return None

    def fire(self, seq: int, expected) -> float:
        raise NotImplementedError


class Dashboard(Scenario):
    name, title, socket = "dashboard", "dashboard live feed (/)", "/ws/events/"
    check = """(seq, expected) => { const li = document.querySelector('#dashboard-feed-lines li');
      return !!li && li.textContent.includes(expected); }"""

    def __init__(self, user):
        super().__init__(user)
        self.bot = _bot(user, "feed probe")

    def path(self):
        return "/"

    def expected(self, page, seq):
        return f"at {30000 + seq} on {VENUE}"

    def fire(self, seq, expected):
        fill = _fill(self.bot, str(30000 + seq))
        sent = time.time() * 1000
        _fill_event(self.bot, fill)
        return sent


class MarketPage(Scenario):
    name, title = "market", "market page: trades and book (/marketdata/markets/...)"
    socket = "/ws/markets/"
    check = """(seq, expected) => {
      if (seq % 2 === 0) return [...document.querySelectorAll('[data-trades] tr')]
        .some((tr) => tr.textContent.includes(expected));
      const td = document.querySelector('.ladder tr.bid td');
      return !!td && td.textContent.trim() === expected; }"""
    note = "even events are trades, odd ones books"

    def __init__(self, user):
        import json

        import redis
        from django.conf import settings

        super().__init__(user)
        _market_data()
        self.redis, self.json = redis.Redis.from_url(settings.REDIS_URL), json

    def path(self):
        return f"/marketdata/markets/{VENUE}/BTC-USDT/"

    def ready(self, page):
        _wait(page, "document.querySelector('#market').dataset.liveState === 'live'")

    def expected(self, page, seq):
        return f"{31000 + seq:,.2f}" if seq % 2 == 0 else f"{30000 + seq + 0.5:,.2f}"

    def fire(self, seq, expected):
        from marketdata.publish import channel

        sent = time.time() * 1000
        if seq % 2 == 0:
            ts = int(sent)
            payload = {"type": "trades", "exchange": VENUE, "symbol": "BTC/USDT",
                       "trades": [{"id": f"b{seq}", "ts": ts, "price": float(31000 + seq),
                                   "amount": 0.01, "side": "buy"}]}  # fmt: skip
            self.redis.publish(channel(VENUE, "BTC/USDT"), self.json.dumps(payload))
        else:
            _book(self.redis, VENUE, 30000 + seq + 0.5, 30001 + seq + 0.5, self.json)
        return sent


class BotPage(Scenario):
    name, title = "bot", "bot page: fill marker on the chart (/trading/bots/<id>/)"
    socket = "/ws/bots/"
    check = """(seq, expected) => Number(document.querySelector('[data-bot-chart-url]')
      .dataset.fillMarkers) >= expected"""
    note = "pushed at once; at most 3 pushes back to back, then 10 a second"

    def __init__(self, user):
        super().__init__(user)
        _market_data()
        self.bot = _bot(user, "marker probe")

    def path(self):
        return f"/trading/bots/{self.bot.pk}/"

    def ready(self, page):
        _wait(
            page,
            "document.querySelector('[data-bot-chart-url]').dataset.candlesLoaded !== undefined",
        )

    def expected(self, page, seq):
        return page.evaluate(
            "Number(document.querySelector('[data-bot-chart-url]').dataset.fillMarkers) + 1"
        )

    def fire(self, seq, expected):
        fill = _fill(self.bot, f"{30000 + seq % 7}")
        sent = time.time() * 1000
        _fill_event(self.bot, fill)
        return sent


class Portfolio(Scenario):
    name, title, socket = "portfolio", "portfolio page: bots table (/portfolio/)", "/ws/events/"
    check = """(seq, expected) => { const td = document.querySelector(
      '#portfolio-comparison td[data-col=trades]');
      return !!td && td.textContent.trim() === String(expected); }"""
    note = "the page refetches itself and replaces its sections"

    def __init__(self, user):
        super().__init__(user)
        _market_data()
        self.bot = _bot(user, "portfolio probe")

    def path(self):
        return "/portfolio/"

    def expected(self, page, seq):
        return seq + 1

    def fire(self, seq, expected):
        fill = _fill(self.bot, "30000")
        sent = time.time() * 1000
        _fill_event(self.bot, fill)
        return sent


class Arbitrage(Scenario):
    name, title = "arbitrage", "arbitrage tracker (/marketdata/markets/arbitrage/)"
    socket = "/ws/arbitrage/"
    check = """(seq, expected) => { const b = document.getElementById('arbitrage-board');
      return !!b && b.dataset.scannedAt !== expected; }"""
    note = "from the start of the scan: includes the scan itself"

    def __init__(self, user):
        import json

        import redis
        from django.conf import settings

        super().__init__(user)
        self.redis, self.json = redis.Redis.from_url(settings.REDIS_URL), json
        self.scans: list[float] = []
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=1)

    def path(self):
        return "/marketdata/markets/arbitrage/?size=100"

    def expected(self, page, seq):
        return page.evaluate("document.getElementById('arbitrage-board').dataset.scannedAt")

    def fire(self, seq, expected):
        from decimal import Decimal

        from marketdata.services.arbitrage import arbitrage_scan

        a, b = ARB_VENUES
        _book(self.redis, a, 99.9, 100.0, self.json)
        _book(self.redis, b, 101.9 + (seq % 10) / 100, 102.0 + (seq % 10) / 100, self.json)
        sent = time.time() * 1000
        # on a thread of its own, as in the worker (Playwright's loop holds this one's)
        self.pool.submit(
            arbitrage_scan, markets={a: ["BTC/USDT"], b: ["BTC/USDT"]}, sizes=[Decimal(100)]
        ).result(60)
        self.scans.append(time.time() * 1000 - sent)
        return sent


class BotList(Scenario):
    name, title, socket = "botlist", "bot list: status row (/trading/bots/)", "/ws/bots/"
    check = """(seq, expected) => { const row = document.getElementById('bot-row-' + expected[0]);
      return !!row && row.textContent.includes(expected[1]); }"""
    note = "pushed at once; at most 3 pushes back to back, then 10 a second"

    def __init__(self, user):
        super().__init__(user)
        self.bot = _bot(user, "latency probe")
        from channels.layers import get_channel_layer

        self.send = _sender(get_channel_layer())

    def path(self):
        return "/trading/bots/"

    def expected(self, page, seq):
        return [self.bot.pk, f"bench-seq-{seq}"]

    def fire(self, seq, expected):
        from trading.models import Bot

        Bot.objects.filter(pk=self.bot.pk).update(status_reason=f"bench-seq-{seq}")
        sent = time.time() * 1000
        event = {"kind": "status", "bot_id": self.bot.pk}
        self.send(f"user.{self.user.pk}", {"type": "event.forward", "event": event})
        return sent


class TradePanel(Scenario):
    name, title = "trade", "trading panel: open orders (/exchanges/accounts/<id>/trade/)"
    socket = "/ws/exchanges/accounts/"
    check = """(seq, expected) => !!document.querySelector(
      '#trade-open-orders tr[data-client-order-id="' + expected + '"]')"""
    note = "includes the render's balance fetch from the sandbox exchange"

    def __init__(self, user):
        from decimal import Decimal

        from django.utils import timezone

        from exchanges.sandbox.testing import open_account
        from exchanges.services.credentials import exchange_account_create
        from trading.models import Bot, BotVenue

        super().__init__(user)
        server, url = _sandbox
        keys = open_account(server, url, {"USDT": "100000", "BTC": "2"})
        self.account = exchange_account_create(
            user=user, exchange=SANDBOX_VENUE, label="bench panel", mode="live",
            api_key=keys.api_key, secret=keys.secret,
        )  # fmt: skip
        self.bot = Bot.objects.create(
            user=user, name="Manual · bench panel", strategy="manual", symbols=["BTC/USDT"],
            mode=Bot.Mode.LIVE, budget=Decimal("1000"), status=Bot.Status.STOPPED,
            status_changed_at=timezone.now(),
        )  # fmt: skip
        BotVenue.objects.create(bot=self.bot, exchange=SANDBOX_VENUE, exchange_account=self.account)

    def path(self):
        return f"/exchanges/accounts/{self.account.pk}/trade/"

    def ready(self, page):
        _wait(page, "!!document.querySelector('#trade-balances tr[data-asset=USDT]')")

    def expected(self, page, seq):
        return f"pg{self.bot.pk}-bench-{seq}"

    def fire(self, seq, expected):
        from decimal import Decimal

        from trading.events import bot_event, bot_events_send, events_flush
        from trading.models import Order

        # one order open at a time: the previous one is cancelled as the next is placed
        Order.objects.filter(bot=self.bot, status="open").update(status="cancelled")
        order = Order.objects.create(
            bot=self.bot, user=self.user, mode="live", exchange=SANDBOX_VENUE,
            exchange_account=self.account, symbol="BTC/USDT", client_order_id=expected,
            side="buy", type="limit", price=Decimal(20000 + seq), qty=Decimal("0.001"),
            status="open",
        )  # fmt: skip
        sent = time.time() * 1000
        data = {"orders": [{"client_order_id": order.client_order_id, "status": "open"}]}
        event = bot_event(bot_id=self.bot.pk, kind="order", data=data)
        bot_events_send(bot_id=self.bot.pk, user_id=self.user.pk, events=[event])
        events_flush()
        return sent


SCENARIOS = {
    s.name: s for s in (Dashboard, MarketPage, BotPage, Portfolio, Arbitrage, BotList, TradePanel)
}


def _measure(context, scenario: Scenario) -> list[float]:
    page = context.new_page()
    page.set_default_timeout(60_000)
    with page.expect_websocket(lambda ws: scenario.socket in ws.url):
        page.goto(scenario.path())
    scenario.ready(page)
    page.evaluate(OBSERVER.replace("CHECK", scenario.check))
    time.sleep(0.5)  # the socket has joined its group
    sent: dict[int, float] = {}
    for seq in range(EVENTS):
        expected = scenario.expected(page, seq)
        page.evaluate("([seq, expected]) => { window.pending = {seq, expected}; }",
                      [seq, expected])  # fmt: skip
        sent[seq] = scenario.fire(seq, expected)
        _wait(page, f"window.seen && '{seq}' in window.seen")
    seen = page.evaluate("window.seen")
    page.close()
    return sorted(seen[str(seq)] - sent[seq] for seq in range(EVENTS))


def _percentile(values: list[float], q: float) -> float:
    return values[int(q * (len(values) - 1))]


def main() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        print(f"skipped: Chromium not found at {CHROMIUM}")
        return
    unknown = [name for name in PAGES if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown page(s) {unknown}: use {', '.join(SCENARIOS)}")
    _setup()
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    server, base = _serve()
    results = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for name in PAGES:
                user, session = _user()  # a user per page: no page sees another's events
                scenario = SCENARIOS[name](user)
                context = browser.new_context(base_url=base, viewport={"width": 1280,
                                                                       "height": 900})  # fmt: skip
                context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session,
                                      "url": base}])  # fmt: skip
                latencies = _measure(context, scenario)
                context.close()
                results.append((scenario, latencies))
                print(f"{scenario.name}: done", file=sys.stderr, flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(15)
        if _sandbox:
            _sandbox[0].stop_thread()
    load = os.getloadavg()[0]
    print(f"event -> DOM latency, headless Chromium, {EVENTS} events a page, one at a time "
          f"({os.cpu_count()} cores, load average {load:.1f} at the end)")  # fmt: skip
    print(f"{'page':<58} {'p50':>7} {'p95':>7} {'min':>7} {'max':>7}")
    for scenario, latencies in results:
        print(f"{scenario.title:<58} {statistics.median(latencies):>5.0f}ms "
              f"{_percentile(latencies, 0.95):>5.0f}ms {latencies[0]:>5.0f}ms "
              f"{latencies[-1]:>5.0f}ms")  # fmt: skip
        if scenario.note:
            print(f"  ({scenario.note})")
        if isinstance(scenario, Arbitrage) and scenario.scans:
            scans = sorted(scenario.scans)
            print(f"  (the scan alone: p50 {statistics.median(scans):.0f} ms, "
                  f"p95 {_percentile(scans, 0.95):.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
