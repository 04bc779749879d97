"""static/js/live.js (PeregrineLive), the socket, refresh and coalescing the dashboard and the
portfolio share, in a real browser: a dropped socket reconnects and the page catches up on what
happened while it was down; a burst of events costs two refreshes, the last state shown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from tests.browser.conftest import wait_for
from tests.trading.conftest import VENUE_A
from trading.models import Fill, Order

pytestmark = pytest.mark.django_db(transaction=True)

# Every WebSocket the page opens, kept on window.sockets (the test drops one by hand).
RECORD_SOCKETS = """
window.sockets = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) { super(...args); window.sockets.push(this); }
};
"""


def _missed_fill(bot, price):
    """A fill booked while the page's socket is down: no event reaches the page."""
    order = Order.objects.create(
        bot=bot, user=bot.user, mode="paper", exchange=VENUE_A, symbol="BTC/USDT",
        client_order_id=f"pg{bot.pk}-missed", side="buy", type="market", qty=D("0.01"),
        filled_qty=D("0.01"), status="filled",
    )  # fmt: skip
    return Fill.objects.create(
        bot=bot, order=order, user=bot.user, mode="paper", exchange=VENUE_A,
        account_key=f"paper-{bot.pk}", symbol="BTC/USDT", trade_id="missed-1", side="buy",
        price=D(price), qty=D("0.01"), fee=D("0.3"), fee_asset="USDT",
        executed_at=timezone.now() - timedelta(seconds=5), source="paper",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("path", "shown"),
    [("/", "#dashboard-feed-lines"), ("/portfolio/", "#portfolio-fees")],
)
def test_a_dropped_socket_reconnects_and_the_page_catches_up(
    signed_in, alice, make_bot, shot, path, shown
):
    page = signed_in
    bot = make_bot(alice, name="alice-reconnect")
    page.add_init_script(RECORD_SOCKETS)
    page.goto(path)
    wait_for(page, "window.sockets.length === 1 && window.sockets[0].readyState === 1")
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
    assert "31230" not in page.locator(shown).inner_text().replace(",", "")

    _missed_fill(bot, "31230")
    page.evaluate("window.sockets[0].close()")
    wait_for(
        page, "window.sockets.length === 2 && window.sockets[1].readyState === 1"
    )  # reopened after its backoff
    if path == "/":
        page.locator(shown, has_text="at 31230 on").wait_for()  # the feed refetched
    else:
        page.locator(shown, has_text="312.30 USDT").wait_for()  # 0.01 x 31230 traded, refetched
    assert page.evaluate("window.loadedOnce") is True
    shot(page, "reconnected")
    assert page.errors == []


def test_coalesce_runs_at_once_and_once_more_for_a_burst(signed_in):
    page = signed_in
    page.goto("/")
    runs = page.evaluate(
        """async () => {
          const runs = [];
          let release;
          const soon = PeregrineLive.coalesce(() => {
            runs.push(Date.now());
            return new Promise((resolve) => { release = resolve; });
          });
          soon();                       // runs at once
          for (let i = 0; i < 5; i++) soon();  // a burst while it runs: one more run
          const during = runs.length;
          release();
          await new Promise((r) => setTimeout(r, 50));
          const after = runs.length;
          release();
          await new Promise((r) => setTimeout(r, 50));
          soon();                       // idle again: at once
          return [during, after, runs.length];
        }"""
    )
    assert runs == [1, 2, 3]
    bounds = page.evaluate(
        "[0, 1, 5, 10, 20].map((n) => Math.max(...Array.from({length: 200},"
        " () => PeregrineLive.backoff(n))))"
    )
    assert all(0 <= b <= limit for b, limit in zip(bounds, [1000, 2000, 30000, 30000, 30000]))
    assert page.errors == []
