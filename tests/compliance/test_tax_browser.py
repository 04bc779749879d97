"""The tax pages in a real headless Chromium: the year's report with its header, totals, lot
lines, income and holdings; a CSV download; the transactions page's entry form and an import
with a bad line (named, nothing written). Screenshots under var/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from compliance.tax_models import TaxTransaction
from tests.browser.conftest import (  # noqa: F401  (the browser fixtures)
    browser,
    live_server_url,
    page,
    shot,
    sign_in,
    signed_in,
)
from tests.compliance import tax_factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def books(alice):
    main = f.account(alice, "Main")
    bot = f.bot(alice)
    f.fill(bot, at(2023, 3, 10), "buy", "0.4", "21000", fee="8.4", acct=main)
    f.fill(bot, at(2024, 1, 10), "buy", "1", "40000", fee="40", acct=main)
    f.fill(bot, at(2024, 6, 1), "sell", "0.9", "60000", fee="54", acct=main)
    f.fill(bot, at(2024, 8, 1), "buy", "5", "2500", fee="12.5", symbol="ETH/USDT", acct=main)
    f.fill(bot, at(2024, 11, 1), "sell", "2", "2700", fee="5.4", symbol="ETH/USDT", acct=main)
    TaxTransaction.objects.create(user=alice, kind="income", occurred_at=at(2024, 3, 1),
                                  asset="ETH", amount=D("0.5"), value_usd=D("1700"),
                                  wallet=f"account:{main.pk}")  # fmt: skip
    f.candle("BTC/USDT", at(2024, 12, 31, 23, 59), "93000")
    f.candle("ETH/USDT", at(2024, 12, 31, 23, 59), "3300")
    return main


def test_tax_year_page_and_transactions_in_a_browser(signed_in, shot, books, tmp_path):  # noqa: F811
    page = signed_in  # noqa: F811
    page.goto("/")
    page.locator("nav a", has_text="Taxes").first.click()
    page.wait_for_url("**/compliance/tax/*/")
    page.goto("/compliance/tax/2024/")
    header = page.locator("#tax-header")
    assert "Method: FIFO" in header.inner_text() and "Universal" in header.inner_text()
    lines = page.locator("#tax-lines tbody tr")
    # each sale took two lots: BTC a long-term and a short-term one, ETH the income then the buy
    assert lines.count() == 4
    terms = [lines.nth(i).locator("td").nth(7).inner_text() for i in range(4)]
    assert sorted(terms) == ["long", "short", "short", "short"]
    assert "1,700.00" in page.locator("#tax-income").inner_text()
    assert page.locator("#tax-holdings tbody tr").count() == 2
    shot(page, "tax-2024")
    with page.expect_download() as download:
        page.locator("a", has_text="IRS Form 8949 CSV").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.splitlines()[0].startswith("Box,(a) Description of property")
    assert len(text.splitlines()) == 5

    page.goto("/compliance/tax/transactions/")
    form = page.locator("#tax-add-form")
    form.locator("select[name=kind]").select_option("deposit")
    form.locator("input[name=occurred_at]").fill("2024-02-01T09:30")
    form.locator("input[name=asset]").fill("SOL")
    form.locator("input[name=amount]").fill("12")
    form.locator("input[name=wallet]").fill("Main")
    form.locator("input[name=value_usd]").fill("1200")
    form.locator("button[type=submit]").click()
    page.locator("#tax-transactions td", has_text="SOL").first.wait_for()
    assert "Main (sandbox)" in page.locator("#tax-transactions").inner_text()

    bad = tmp_path / "bad.csv"
    bad.write_text("date,kind,asset,amount,wallet\n2024-03-01T00:00:00Z,income,ADA,10,Main\n"
                   "2024-03-02T00:00:00Z,gift,ADA,10,Main\n")  # fmt: skip
    before = TaxTransaction.objects.count()
    imp = page.locator("#tax-import-form")
    imp.locator("select[name=format]").select_option("peregrine")
    imp.locator("input[name=file]").set_input_files(str(bad))
    imp.locator("button[type=submit]").click()
    errors = page.locator("#tax-import-errors")
    errors.wait_for()
    assert "line 3: kind 'gift' is not one of" in errors.inner_text()
    assert TaxTransaction.objects.count() == before
    shot(page, "tax-transactions")
    assert page.errors == []
