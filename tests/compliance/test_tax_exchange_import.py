"""Trade history from an exchange account through ccxt fetch_my_trades, against the sandbox
exchange (the unmodified ccxt binance client): imported once, however often it is asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from compliance.tax.reports import tax_report_build
from compliance.tax.services import exchange_trades_import
from compliance.tax_models import TaxTransaction
from exchanges.gateway.clients import sync_client


@pytest.fixture
def traded_account(alice, sandbox_account, sandbox_url, settings):
    from exchanges.services.credentials import exchange_account_create

    settings.PEREGRINE_SANDBOX_URL = sandbox_url
    client = sync_client("sandbox", api_key=sandbox_account.api_key,
                         secret=sandbox_account.secret, sandbox_url=sandbox_url)  # fmt: skip
    client.create_order("BTC/USDT", "market", "buy", 0.02)
    client.create_order("BTC/USDT", "market", "sell", 0.01)
    client.create_order("ETH/BTC", "market", "buy", 0.1)
    return exchange_account_create(
        user=alice, exchange="sandbox", label="Sandbox live", mode="live",
        api_key=sandbox_account.api_key, secret=sandbox_account.secret,
    )  # fmt: skip


def test_exchange_history_is_imported_once_with_fees(alice, traded_account):
    now = datetime.now(UTC)
    period = {"since": now - timedelta(hours=1), "until": now + timedelta(minutes=5)}
    created, skipped = exchange_trades_import(user=alice, account=traded_account, **period)
    assert created >= 3 and skipped == 0
    rows = TaxTransaction.objects.filter(user=alice, source="exchange")
    assert rows.count() == created
    buy = rows.filter(asset="BTC", given_asset="USDT").first()
    # the sandbox, like Binance, takes the fee from the coins received
    assert buy.fee > 0 and buy.fee_asset == "BTC" and buy.wallet == f"account:{traded_account.pk}"
    assert buy.external_id.startswith(f"{traded_account.pk}:BTC/USDT:")
    assert rows.filter(asset="ETH", given_asset="BTC", quote="BTC").exists()

    assert exchange_trades_import(user=alice, account=traded_account, **period) == (0, created)
    report = tax_report_build(user=alice, year=now.year)
    btc_sales = [line for line in report.lines if line.disposal.asset == "BTC"]
    assert sum(line.piece.amount for line in btc_sales) >= D("0.01")


def test_only_named_markets_are_fetched_and_unknown_ones_refused(alice, traded_account):
    from django.core.exceptions import ValidationError

    now = datetime.now(UTC)
    period = {"since": now - timedelta(hours=1), "until": now + timedelta(minutes=5)}
    created, _ = exchange_trades_import(user=alice, account=traded_account, symbols=["ETH/BTC"],
                                        **period)  # fmt: skip
    assert created >= 1
    assert not TaxTransaction.objects.filter(user=alice, given_asset="USDT").exists()
    with pytest.raises(ValidationError, match="unknown market"):
        exchange_trades_import(user=alice, account=traded_account, symbols=["NOPE/USDT"],
                               **period)  # fmt: skip


def test_the_page_form_imports_for_the_owner_only(alice_client, bob_client, traded_account):
    today = datetime.now(UTC).date()
    data = {"account": str(traded_account.pk), "since": str(today - timedelta(days=1)),
            "until": str(today), "symbols": "BTC/USDT"}  # fmt: skip
    refused = bob_client.post("/compliance/tax/transactions/exchange-import/", data)
    assert refused.status_code == 400  # not one of bob's accounts: the form refuses it
    assert not TaxTransaction.objects.exists()
    response = alice_client.post("/compliance/tax/transactions/exchange-import/", data)
    assert response.status_code == 302
    assert TaxTransaction.objects.filter(source="exchange").count() >= 2
