"""Content-Security-Policy in a real browser: the dashboard, the markets (list and a market with
its chart), a bot's page and the backtest pages are served with the policy and load under it
without a single violation: no `securitypolicyviolation` event in the page, no CSP message in
the console, no script error. Screenshots under var/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

# registered before any page script runs: every violation the browser reports is kept
WATCH_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(
    `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def watched(signed_in):
    page = signed_in
    page.console_csp = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and page.console_csp.append(message.text)
        ),
    )
    page.context.add_init_script(WATCH_VIOLATIONS)
    return page


def _open(page, url: str, shot, name: str, ready: str | None = None) -> None:
    response = page.goto(url)
    assert response.status == 200, url
    policy = response.headers.get("content-security-policy", "")
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'", policy  # no inline script, no eval
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    page.wait_for_load_state("networkidle")
    if ready:
        page.locator(ready).first.wait_for()
    shot(page, name)
    violations = page.evaluate("window.cspViolations")
    assert violations == [], (url, violations)
    assert page.console_csp == [], (url, page.console_csp)
    assert page.errors == [], (url, page.errors)


def test_pages_load_under_the_content_security_policy_without_violations(
    watched, alice, charted_market, shot, monkeypatch
):
    from strategies import services
    from trading.models import Bot, BotVenue

    venue, _ = charted_market
    page = watched
    _open(page, "/", shot, "dashboard")
    _open(page, "/marketdata/markets/", shot, "markets")
    _open(page, f"/marketdata/markets/{venue}/BTC-USDT/", shot, "market", ready="#market canvas")
    bot = Bot.objects.create(
        user=alice, name="alice-csp", strategy="pure_market_making", symbols=["BTC/USDT"],
        budget=Decimal("1000"), paper_balances={venue: {"USDT": "1000"}}, status="draft",
    )  # fmt: skip
    BotVenue.objects.create(bot=bot, exchange=venue, position=0)
    _open(page, f"/trading/bots/{bot.pk}/", shot, "bot", ready="[data-bot-chart-url] canvas")
    _open(page, "/strategies/backtests/", shot, "backtests")
    monkeypatch.setattr(services, "_enqueue", lambda run_id: None)
    run = services.backtest_run_create(
        user=alice, strategy="sma_cross", params={"fast": 10, "slow": 30}, exchange=venue,
        symbol="BTC/USDT", timeframe="1h", start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 2, tzinfo=UTC), cash="10000",
    )  # fmt: skip
    _open(page, f"/strategies/backtests/{run.pk}/", shot, "backtest")


def test_an_inline_script_would_be_reported(watched, shot):
    """The watch itself works: a script injected inline is blocked and reported."""
    page = watched
    page.goto("/")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        " document.body.appendChild(s); }"
    )
    page.wait_for_function("window.cspViolations.length > 0")
    assert page.evaluate("window.ran") is None
    assert "script-src" in page.evaluate("window.cspViolations")[0]
