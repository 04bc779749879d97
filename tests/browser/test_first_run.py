"""A new user's first steps in a real browser: a funded sandbox account in one click, and the
bot form telling what is wrong at the top and at the field, its help never under its labels.

The sandbox here is the real `sandbox_exchange` command (it reads new keys and deposits from
the database, as under `make run`), and the live server is pointed at it.
"""

from __future__ import annotations

import re
import threading
import urllib.request

import pytest
from django.db import connection

from exchanges.models import ExchangeAccount
from tests.browser.conftest import serve
from tests.conftest import free_port, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running_sandbox(child_processes, settings) -> str:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    child_processes.start(
        "manage.py", "sandbox_exchange", "--port", str(port), "--venues", "sandbox,sandbox-b",
        "--history-bars", "30",
        env={"PEREGRINE_SANDBOX_URL": url, "PEREGRINE_SANDBOX_VENUES": "sandbox,sandbox-b"},
    )  # fmt: skip

    def up():
        try:
            with urllib.request.urlopen(f"{url}/sandbox/api/v3/ping", timeout=1):
                return True
        except Exception:
            return False

    wait_until(up, timeout=60, interval=0.2, what="sandbox exchange")
    settings.PEREGRINE_SANDBOX_URL = url
    settings.PEREGRINE_SANDBOX_VENUES = ["sandbox", "sandbox-b"]
    return url


@pytest.fixture
def live_server_url(child_processes, running_sandbox) -> str:
    child_processes.env.update(
        PEREGRINE_SANDBOX_URL=running_sandbox, PEREGRINE_SANDBOX_VENUES="sandbox,sandbox-b"
    )
    return serve(child_processes)


def test_a_new_user_gets_a_funded_sandbox_account_in_one_click(signed_in, alice, shot):
    page = signed_in
    page.goto("/")
    start = page.locator("#dashboard-start")
    assert "no exchange account yet" in start.inner_text()
    shot(page, "dashboard-start")
    start.get_by_role("button", name="Create a funded sandbox account").click()
    page.wait_for_url("**/exchanges/accounts/")
    assert "created and funded with 10,000 USDT, 0.2 BTC, 3 ETH" in page.content()
    assert "The sandbox exchange reports these balances" in page.content()
    account = ExchangeAccount.objects.get(user=alice)
    row = page.locator("tr", has_text="Sandbox (sandbox)")
    assert "Paper" in row.inner_text()
    row.get_by_role("button", name="Test connection").click()
    report = page.locator(f"#connection-{account.pk}")
    report.get_by_text("Connected.").wait_for()
    assert re.search(r"USDT 10000\b", report.inner_text()), report.inner_text()
    assert "BTC 0.2" in report.inner_text() and "ETH 3" in report.inner_text()
    shot(page, "sandbox-account-created")

    assert "not restricted to IP addresses" not in report.inner_text()
    # a second click opens the next venue; then none is left to offer
    page.get_by_role("button", name="Create a funded sandbox account").click()
    page.wait_for_url("**/exchanges/accounts/")
    assert ExchangeAccount.objects.filter(user=alice).count() == 2
    assert page.get_by_role("button", name="Create a funded sandbox account").count() == 0
    page.goto("/")
    assert page.locator("#dashboard-start").count() == 0
    exposure = page.locator("#dashboard-exposure").inner_text()
    assert "On your exchange accounts" in exposure, exposure
    assert "0.4 BTC · 6 ETH · 20000 USDT" in exposure  # both accounts, as fetched on creation
    shot(page, "dashboard-with-balances")
    assert page.errors == []


def test_bot_form_errors_show_on_top_and_at_the_field_and_help_never_overlaps(signed_in, shot):
    page = signed_in
    page.goto("/trading/bots/new/")
    shot(page, "bot-form")
    _assert_no_overlap(page)
    page.fill("#id_budget", "-5")
    page.fill("#id_params_order_levels", "0")
    page.get_by_role("button", name="Create draft bot").click()
    top = page.locator("#form-errors")
    top.wait_for()
    text = top.inner_text()
    assert "The bot was not created" in text and "Budget" in text and "Name" in text
    budget_error = page.locator("#id_budget-error").inner_text()
    assert budget_error and budget_error in text
    assert page.locator("#id_params_order_levels-error").inner_text() in text
    # the list's links go to the inputs
    top.get_by_role("link", name="Budget").click()
    assert page.evaluate("location.hash") == "#id_budget"
    shot(page, "bot-form-errors")
    _assert_no_overlap(page)
    assert page.errors == []


def _assert_no_overlap(page) -> None:
    """No label's text box intersects the help or error text drawn under it."""
    overlaps = page.evaluate(
        """() => {
        const boxes = el => Array.from(el.getClientRects());
        const cross = (a, b) => a.left < b.right && b.left < a.right
            && a.top < b.bottom && b.top < a.bottom;
        const found = [];
        for (const small of document.querySelectorAll('form small')) {
            const field = small.closest('label, .switch-field');
            if (!field) continue;
            const label = field.matches('label') ? field : field.querySelector('label');
            const words = [];
            for (const node of label.childNodes) {
                if (node.nodeType === 3 && node.textContent.trim()) {
                    const range = document.createRange();
                    range.selectNodeContents(node);
                    words.push(...range.getClientRects());
                }
            }
            for (const w of words) for (const s of boxes(small))
                if (cross(w, s)) found.push(label.textContent.trim().slice(0, 40));
        }
        return found;
    }"""
    )
    assert overlaps == []


def test_a_quote_only_market_maker_says_on_its_page_why_it_only_bids(
    signed_in, alice, make_bot, feeder, shot
):
    from trading.models import Order
    from trading.runtime.runner import BotRunner
    from trading.services.bots import bot_start

    bot = make_bot(alice, name="first maker", paper_balances=None)  # the budget as cash only
    bot_start(bot=bot)

    def run_slice():  # on a thread of its own: Playwright's event loop holds this one
        try:
            BotRunner(bot.pk).run()
        finally:
            connection.close()

    with feeder(step=0.0):
        runner = threading.Thread(target=run_slice)
        runner.start()
        runner.join(120)
    assert not runner.is_alive()
    assert set(Order.objects.filter(bot=bot).values_list("side", flat=True)) == {"buy"}
    page = signed_in
    page.goto(f"/trading/bots/{bot.pk}/")
    status = page.locator("#bot-status")
    assert "Running" in status.inner_text()
    assert "Quoting bids only: the bot holds 0 BTC" in status.inner_text()
    shot(page, "bot-quoting-bids-only")
    assert page.errors == []
