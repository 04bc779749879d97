"""Browser tests: real headless Chromium (Debian's `chromium`) driven by Playwright for Python.

The browser is the system's (`PEREGRINE_CHROMIUM`, default /usr/bin/chromium), never a
Playwright download; without it every browser test is skipped with the reason. One browser per
test module; each test gets a fresh context (cookies, storage) and a live server: the real ASGI
app under uvicorn in a child process on a free loopback port, against the test's own database
(transactional, so the child sees the rows) and Redis (the channels-redis layer), so pages and
websockets behave as in production.

Every page a test visits can be kept as a screenshot with `shot(page, name)`, under
`PEREGRINE_SCREENSHOT_DIR` (default var/screenshots/), which CI keeps as an artefact.
"""

from __future__ import annotations

import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BASE_DIR, free_port, wait_until
from tests.trading import workers
from tests.trading.conftest import (  # noqa: F401  (fixtures re-used by the browser tests)
    feeder,
    funded_account,
    make_bot,
    market,
    sandbox,
    sandbox_url,
)

CHROMIUM = os.environ.get("PEREGRINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("PEREGRINE_SCREENSHOT_DIR", BASE_DIR / "var" / "screenshots"))
# A hang guard, not a budget: conditions are awaited this long before a test gives up.
WAIT_MS = 60_000


def chromium_missing_reason() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or PEREGRINE_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed"
    return None


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the whole module.

    Playwright's sync API keeps an event loop on the test's thread while the browser is open;
    the ORM calls tests make between browser steps (and the database flush after each test)
    are still plain synchronous calls on that thread, hence DJANGO_ALLOW_ASYNC_UNSAFE."""
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def serve(child_processes) -> str:
    """The ASGI app under uvicorn in a child process; returns its base URL once it answers."""
    port = free_port()
    child_processes.start(
        "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--lifespan", "off", "--no-access-log",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return True
        except Exception as exc:  # 4xx/5xx still prove the server answers
            return getattr(exc, "code", None) is not None

    wait_until(up, timeout=60, interval=0.2, what="uvicorn")
    return base


@pytest.fixture
def live_server_url(child_processes) -> str:
    return serve(child_processes)


@pytest.fixture
def page(browser, live_server_url):
    """A fresh browser context and page; console errors are collected on `page.errors`."""
    context = browser.new_context(base_url=live_server_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    yield tab
    context.close()


@pytest.fixture
def sign_in(password, settings):
    """Sign `user` in through the real login form.

    The test process hashes passwords with a cheap hasher the server does not know; the user's
    password is stored again with the server's own hasher first."""
    from django.conf import global_settings

    def go(page, user):
        settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
        user.set_password(password)
        user.save(update_fields=["password"])
        page.goto("/accounts/login/")
        page.fill("input[name=login]", user.email)
        page.fill("input[name=password]", password)
        page.locator("form button[type=submit], form input[type=submit]").last.click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    return go


@pytest.fixture
def signed_in(page, alice, sign_in):
    """A page signed in as alice."""
    return sign_in(page, alice)


@pytest.fixture
def shot(request):
    """Save a full-page screenshot as <test>-<name>.png under the screenshot folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{test}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def bot_worker(child_processes, sandbox_url):  # noqa: F811
    """A real Celery worker on the bots queue, against this test's database and sandbox."""
    workers.purge_bots_queue()
    return workers.start_worker(child_processes, workers.worker_env(sandbox_url), "browser")


@pytest.fixture
def charted_market(transactional_db, market):  # noqa: F811
    """A market on a venue of this test's own with three days of 1m bars (a seeded random walk
    ending at the current minute, longer timeframes derived) and a live book and ticker."""
    import secrets
    import time as _time

    import numpy as np

    from marketdata.models import Instrument
    from marketdata.services.candles import candle_copy_upsert, candle_derive_all

    venue = f"chart{secrets.token_hex(3)}"
    Instrument.objects.create(
        exchange=venue, symbol="BTC/USDT", base="BTC", quote="USDT",
        price_step="0.01", amount_step="0.0001",
    )  # fmt: skip
    now = int(_time.time() * 1000)
    end = now - now % 60_000
    n = 3 * 1440
    rng = np.random.default_rng(7)
    closes = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.0008, n)))
    opens = np.r_[30_000, closes[:-1]]
    spread = np.abs(rng.normal(0, 0.0005, n)) * closes
    bars = [
        (end - (n - i) * 60_000, f"{o:.2f}", f"{max(o, c) + s:.2f}", f"{min(o, c) - s:.2f}",
         f"{c:.2f}", f"{abs(v):.4f}", 10)
        for i, (o, c, s, v) in enumerate(zip(opens, closes, spread, rng.normal(2, 1, n)))
    ]  # fmt: skip
    candle_copy_upsert(exchange=venue, symbol="BTC/USDT", timeframe="1m", bars=bars)
    candle_derive_all(exchange=venue, symbol="BTC/USDT")
    last = float(bars[-1][4])
    market.book(venue, "BTC/USDT", round(last - 0.5, 2), round(last + 0.5, 2), size="0.25")
    yield venue, last
    market.clear(venue, "BTC/USDT")


# Pixels drawn on the canvases under a selector (lightweight-charts paints candles, lines and
# markers on stacked canvases, on an animation frame after the data is set): a blank chart has
# none. One alpha sample every 4 pixels.
PAINTED = """(selector) => {
  let painted = 0;
  document.querySelectorAll(selector + " canvas").forEach((canvas) => {
    if (!canvas.width || !canvas.height) return;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 16) if (data[i]) painted++;
  });
  return painted;
}"""


def wait_for(page, predicate: str, arg=None, *, timeout_ms: int = WAIT_MS, what: str = ""):
    """Poll the JavaScript `predicate` (an expression, or a function called with `arg`) until it
    is truthy; returns its value. The timeout is a hang guard; on it the test fails saying what.

    Unlike page.wait_for_function, which compiles its predicate inside the page (refused by a
    Content-Security-Policy without 'unsafe-eval'), page.evaluate goes through the DevTools
    protocol, which the page's CSP does not govern."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        value = page.evaluate(predicate) if arg is None else page.evaluate(predicate, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_ms} ms: {what or predicate[:200]}")
        page.wait_for_timeout(20)


def painted(page, selector: str) -> int:
    """The painted pixel samples under `selector` now (see PAINTED)."""
    return page.evaluate(PAINTED, selector)


def wait_painted(page, selector: str, more_than: int, timeout_ms: int = WAIT_MS) -> int:
    """Wait until the canvases under `selector` have more than `more_than` painted samples.

    A chart paints on a later animation frame than the one its data arrives in, so a single
    read can see a blank canvas; this polls until the chart is painted (the timeout is a hang
    guard). Returns the count; on timeout fails with the last count seen."""
    deadline = time.monotonic() + timeout_ms / 1000
    while (count := painted(page, selector)) <= more_than:
        if time.monotonic() > deadline:
            pytest.fail(
                f"{selector}: {count} painted samples after {timeout_ms} ms,"
                f" expected more than {more_than}"
            )
        page.wait_for_timeout(20)
    return count
