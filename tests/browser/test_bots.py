"""Bot pages in a real browser: sign in through the form, the bot list, a bot page updating live.

The live test runs a paper market maker on a real Celery worker, on this run's sandbox venue
fed with a moving book, and watches its page: the fill arrives over the bot's websocket and is
swapped into the page without a reload.
"""

from __future__ import annotations

import pytest

from trading.models import Fill
from trading.services.bots import bot_start, bot_stop

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_through_the_form_shows_own_bots_only(page, alice, bob, sign_in, make_bot, shot):
    mine, theirs = make_bot(alice, name="alice-grid"), make_bot(bob, name="bob-secret")
    page.goto("/trading/bots/")
    assert "/accounts/login/" in page.url  # anonymous: sent to the login form
    shot(page, "login")

    sign_in(page, alice)
    shot(page, "home")
    page.get_by_role("link", name="Bots").first.click()
    page.wait_for_url("**/trading/bots/")
    row = page.locator(f"#bot-row-{mine.pk}")
    assert row.get_by_role("link", name="alice-grid").is_visible()
    assert "Draft" in row.inner_text()
    assert "bob-secret" not in page.content()
    shot(page, "bot-list")

    response = page.goto(f"/trading/bots/{theirs.pk}/")
    assert response.status == 404
    assert page.errors == []


def test_a_running_paper_bots_page_shows_its_fill_without_a_reload(
    signed_in, alice, make_bot, feeder, bot_worker, shot
):
    page = signed_in
    bot = make_bot(alice, name="alice-maker")
    with page.expect_websocket(lambda ws: f"/ws/bots/{bot.pk}/" in ws.url):
        page.goto(f"/trading/bots/{bot.pk}/")
    assert "No fills yet." in page.locator("#fills").inner_text()
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
    shot(page, "bot-before-fill")

    with feeder():
        bot_start(bot=bot)
        page.locator("#fills tbody tr code").first.wait_for()
        page.locator("#bot-status", has_text="Running").wait_for()
        shot(page, "bot-after-fill")
        bot_stop(bot=bot)

    shown = page.locator("#fills tbody tr code").first.inner_text()
    assert Fill.objects.filter(bot=bot, trade_id=shown).exists()
    assert page.evaluate("window.loadedOnce") is True
    assert page.errors == []
