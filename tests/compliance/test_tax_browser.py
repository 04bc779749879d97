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


@pytest.fixture
def export_env(process_env, tmp_path, settings):
    """The server and the worker write exports under one folder, with a low threshold."""
    root = tmp_path / "exports"
    process_env.update(TAX_EXPORT_ROOT=str(root), TAX_EXPORT_ASYNC_THRESHOLD="20")
    settings.TAX_EXPORT_ROOT = root
    import redis
    from django.conf import settings as django_settings

    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.delete("default")  # messages of earlier tests name exports this database lacks
    client.close()
    return root


def test_a_large_export_runs_in_a_worker_with_live_progress_then_downloads(
    export_env,
    signed_in,  # noqa: F811
    shot,  # noqa: F811
    alice,
    child_processes,
):
    from compliance.tax_models import TaxExport
    from compliance.tax_views import year_export_response
    from tests.trading import workers

    page = signed_in  # noqa: F811
    main, bot = f.account(alice, "Main"), f.bot(alice)
    for i in range(40):
        side = "sell" if i % 3 == 2 else "buy"
        f.fill(bot, at(2024, 2, 1 + i % 27, i % 24), side, "0.02" if side == "sell" else "0.015",
               str(40000 + 211 * i), fee="0.5", acct=main)  # fmt: skip
    page.goto("/compliance/tax/2024/")
    page.locator("a", has_text="Capital gains CSV").click()
    page.wait_for_url("**/compliance/tax/exports/*/")
    status = page.locator("#tax-export-status")
    assert "Waiting for a worker" in status.inner_text() and "40 records" in status.inner_text()
    shot(page, "export-queued")
    workers.start_worker(
        child_processes, {"LOG_LEVEL": "WARNING"}, "exports", queues="default", threads=2
    )
    button = page.locator("#tax-export-download")
    button.wait_for(timeout=240_000)  # a hang guard: the worker starts on a loaded machine
    assert page.locator("#tax-export-status").get_attribute("data-status") == "done"
    shot(page, "export-done")
    with page.expect_download() as download:
        button.click()
    export = TaxExport.objects.get(user=alice)
    assert download.value.suggested_filename == "peregrine-gains-2024.csv"
    streamed = b"".join(year_export_response(alice, 2024, "gains").streaming_content)
    assert open(download.value.path(), "rb").read() == streamed
    page.goto("/compliance/tax/2024/")
    listed = page.locator("#tax-exports tbody tr").first
    assert listed.get_attribute("data-status") == "done" and "download" in listed.inner_text()
    shot(page, "export-listed")
    assert export.rows_done == streamed.count(b"\r\n") - 1
    assert page.errors == []
