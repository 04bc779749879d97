"""Event -> DOM latency in a real browser (headless Chromium), p50/p95 over 200+ events.

Page measured: the bot list (/trading/bots/), whose socket /ws/bots/ joins the signed-in
user's group `user.<id>`. For each event the bench writes a new status reason on the user's
bot, stamps the wall clock (ms) and sends a "status" event to `user.<id>` through the
channel layer; the consumer re-renders the bot's row (after its 250 ms coalescing window) and
htmx swaps it in. A MutationObserver in the page records Date.now() when the row shows the
event's reason. Latency = DOM time - send time (same machine, same clock). Events are sent one
at a time: the next goes once the page has shown the previous.

Uses DATABASE_URL's server with a database of its own (<name>_browser_bench, recreated),
REDIS_URL, and the system's Chromium (PEREGRINE_CHROMIUM, default /usr/bin/chromium).
Run: python bench/browser_latency.py [events]
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

OBSERVER = """(botId) => {
  window.seen = {};
  const grab = () => {
    const row = document.getElementById('bot-row-' + botId);
    const m = row && row.textContent.match(/bench-seq-(\\d+)/);
    if (m && !(m[1] in window.seen)) window.seen[m[1]] = Date.now();
  };
  new MutationObserver(grab).observe(document.body, {subtree: true, childList: true,
                                                     characterData: true});
}"""


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


def _user_and_bot():
    from decimal import Decimal

    from allauth.account.models import EmailAddress
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from trading.models import Bot, BotVenue

    email = f"bench-{secrets.token_hex(3)}@example.com"
    user = get_user_model().objects.create_user(email=email, password=secrets.token_hex(16))
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    bot = Bot.objects.create(
        user=user, name="latency probe", strategy="pure_market_making", symbols=["BTC/USDT"],
        budget=Decimal("1000"), paper_balances={"sandbox": {"USDT": "1000"}}, status="running",
    )  # fmt: skip
    BotVenue.objects.create(bot=bot, exchange="sandbox")
    client = Client()
    client.force_login(user)
    return user, bot, client.cookies[settings.SESSION_COOKIE_NAME].value


def _sender(layer):
    """group_send on a loop of its own (Playwright's sync API holds this thread's loop)."""
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def send(group: str, message: dict) -> None:
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(10)

    return send


def main() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        print(f"skipped: Chromium not found at {CHROMIUM}")
        return
    _setup()
    from channels.layers import get_channel_layer
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    from trading.models import Bot

    server, base = _serve()
    user, bot, session = _user_and_bot()
    send = _sender(get_channel_layer())
    sent: dict[int, float] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(base_url=base)
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session,
                                  "url": base}])  # fmt: skip
            page = context.new_page()
            page.set_default_timeout(30_000)
            with page.expect_websocket(lambda ws: ws.url.endswith("/ws/bots/")):
                page.goto("/trading/bots/")
            page.evaluate(OBSERVER, bot.pk)
            time.sleep(0.5)  # the socket has joined the user's group
            for seq in range(EVENTS):
                Bot.objects.filter(pk=bot.pk).update(status_reason=f"bench-seq-{seq}")
                sent[seq] = time.time() * 1000
                event = {"kind": "status", "bot_id": bot.pk}
                send(f"user.{user.pk}", {"type": "event.forward", "event": event})
                page.wait_for_function(f"window.seen && '{seq}' in window.seen")
            seen = page.evaluate("window.seen")
            browser.close()
    finally:
        server.terminate()
        server.wait(15)
    latencies = sorted(seen[str(seq)] - sent[seq] for seq in range(EVENTS))
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print("page: /trading/bots/ (bot list), socket: /ws/bots/ (group user.<id>), Chromium headless")
    print(f"event -> DOM latency over {len(latencies)} events (includes the consumer's 250 ms "
          "coalescing window):")  # fmt: skip
    print(f"  p50 {statistics.median(latencies):.0f} ms  p95 {p95:.0f} ms  "
          f"min {latencies[0]:.0f} ms  max {latencies[-1]:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
