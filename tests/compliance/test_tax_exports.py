"""Koinly and CoinTracking exports: checked by a parser for their formats (columns, dates,
decimal points), and round-tripped: export the whole history, import it for another user, and
the lots come out the same (Koinly in universal scope: its files carry no wallet; CoinTracking
per wallet too, from its Exchange column)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest

from compliance.tax.formats import COINTRACKING_HEADER, KOINLY_HEADER
from compliance.tax.reports import tax_ledger
from compliance.tax.services import tax_transactions_import
from compliance.tax_models import TaxTransaction, TaxYear
from tests.compliance import tax_factories as f

DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
NUMBER = re.compile(r"^\d+(\.\d+)?$")  # a decimal point, no exponent, no thousands separator


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def history(alice):
    main, second = f.account(alice, "Main"), f.account(alice, "Second")
    bot = f.bot(alice)
    for symbol, when, close in [("BTC/USDT", at(2023, 6, 1), "27000"),
                                ("BNB/USDT", at(2024, 3, 2), "400")]:  # fmt: skip
        f.candle(symbol, when, close)
    tx = TaxTransaction.objects.create
    tx(user=alice, kind="deposit", occurred_at=at(2023, 1, 1), asset="BNB", amount=D("5"),
       value_usd=D("1200"), wallet=f"account:{main.pk}")  # fmt: skip
    f.fill(bot, at(2023, 1, 5), "buy", "1", "17000", fee="17", acct=main)
    f.fill(bot, at(2023, 2, 1), "buy", "10", "1500", fee="0.01", fee_asset="ETH",
           symbol="ETH/USDT", acct=main)  # fmt: skip
    f.fill(bot, at(2023, 6, 1), "sell", "2", "0.07", fee="0.0001", fee_asset="BTC",
           symbol="ETH/BTC", acct=main)  # fmt: skip
    tx(user=alice, kind="income", occurred_at=at(2023, 7, 1), asset="ETH", amount=D("0.1"),
       value_usd=D("190"), wallet=f"account:{main.pk}")  # fmt: skip
    tx(user=alice, kind="transfer", occurred_at=at(2023, 8, 1), asset="BTC", amount=D("0.2"),
       wallet=f"account:{main.pk}", to_wallet=f"account:{second.pk}")  # fmt: skip
    tx(user=alice, kind="fee", occurred_at=at(2023, 9, 1), asset="BTC", amount=D("0.001"),
       value_usd=D("26"), wallet=f"account:{main.pk}")  # fmt: skip
    f.fill(bot, at(2024, 3, 1), "sell", "0.5", "60000", fee="30", acct=main)
    f.fill(bot, at(2024, 3, 2), "sell", "3", "3400", fee="0.01", fee_asset="BNB",
           symbol="ETH/USDT", acct=main)  # fmt: skip
    f.fill(bot, at(2024, 4, 1), "sell", "0.2", "70000", acct=second)
    tx(user=alice, kind="withdrawal", occurred_at=at(2024, 5, 1), asset="ETH", amount=D("1"),
       wallet=f"account:{main.pk}")  # fmt: skip
    return main, second


def download(client, kind: str) -> str:
    response = client.get(f"/compliance/tax/history/{kind}.csv")
    assert response.status_code == 200 and response.streaming
    return b"".join(response.streaming_content).decode()


def cents(value: D) -> D:
    return value.quantize(D("0.01"), ROUND_HALF_UP)


def lots(user, scope: str) -> list[tuple]:
    """Every disposal (both years) with its lot fractions, to the cent and the second."""
    for year in (2023, 2024):
        TaxYear.objects.update_or_create(user=user, year=year, defaults={"scope": scope})
    ledger, _, _ = tax_ledger(user=user, year=2024)
    return [
        (d.asset, d.kind, d.disposed_at, d.amount, cents(d.proceeds), d.taxable,
         [(p.acquired_at, p.amount, cents(p.cost), p.term) for p in d.pieces])
        for d in ledger.disposals
    ]  # fmt: skip


def test_koinly_export_parses_as_koinly_universal(alice_client, history):
    rows = list(csv.DictReader(io.StringIO(download(alice_client, "koinly"))))
    assert list(rows[0]) == KOINLY_HEADER
    assert len(rows) == 12  # 10 records, the transfer as its two halves
    for row in rows:
        assert DATE.match(row["Date"])
        for column in ("Sent Amount", "Received Amount", "Fee Amount", "Net Worth Amount"):
            assert row[column] == "" or NUMBER.match(row[column]), (column, row[column])
        assert row["Net Worth Currency"] in ("", "USD")
    eth_btc = next(r for r in rows if r["Sent Currency"] == "ETH" and r["Received Currency"])
    assert eth_btc["Received Amount"] == "0.14" and eth_btc["Net Worth Amount"] == "3780"
    assert {r["Tag"] for r in rows} == {"", "income", "cost"}


def test_cointracking_export_parses_as_cointracking(alice_client, history):
    rows = list(csv.DictReader(io.StringIO(download(alice_client, "cointracking"))))
    assert list(rows[0]) == COINTRACKING_HEADER
    assert {r["Type"] for r in rows} == {"Trade", "Deposit", "Withdrawal", "Income", "Other Fee"}
    for row in rows:
        assert DATE.match(row["Date"])
        for column in ("Buy Amount", "Sell Amount", "Fee"):
            assert row[column] == "" or NUMBER.match(row[column])
    assert {r["Exchange"] for r in rows} == {"Main (sandbox)", "Second (sandbox)"}


def test_koinly_round_trip_gives_the_same_lots(alice, alice_client, django_user_model, history):
    carol = django_user_model.objects.create_user(email="carol@example.com", password="x" * 20)
    created, skipped = tax_transactions_import(
        user=carol, fmt="koinly", text=download(alice_client, "koinly"), wallet="Koinly"
    )
    assert (created, skipped) == (11, 0)
    assert lots(carol, "universal") == lots(alice, "universal")
    assert len(lots(alice, "universal")) == 7
    again = tax_transactions_import(
        user=carol, fmt="koinly", text=download(alice_client, "koinly"), wallet="Koinly"
    )
    assert again == (0, 11)  # idempotent: every line is known by its TxHash


def test_cointracking_round_trip_keeps_wallets(alice, alice_client, django_user_model, history):
    dave = django_user_model.objects.create_user(email="dave@example.com", password="x" * 20)
    created, _ = tax_transactions_import(
        user=dave, fmt="cointracking", text=download(alice_client, "cointracking")
    )
    assert created == 11
    transfer = TaxTransaction.objects.get(user=dave, kind="transfer")
    assert (transfer.wallet, transfer.to_wallet) == ("Main (sandbox)", "Second (sandbox)")
    assert lots(dave, "wallet") == lots(alice, "wallet")
    assert lots(dave, "universal") == lots(alice, "universal")


def test_a_bad_koinly_line_is_named_and_nothing_is_written(alice, history):
    text = (",".join(KOINLY_HEADER) + "\n"
            "2024-01-01 00:00:00,1,BTC,,,,,,,,,\n"
            "01/02/2024,1,BTC,,,,,,,,,\n"
            "2024-01-03 00:00:00,1;5,BTC,,,,,,,,,\n")  # fmt: skip
    from compliance.tax.formats import CsvImportError

    before = TaxTransaction.objects.count()
    with pytest.raises(CsvImportError) as caught:
        tax_transactions_import(user=alice, fmt="koinly", text=text, wallet="Main")
    assert caught.value.errors == [
        "line 3: Date '01/02/2024' is not a date (YYYY-MM-DD HH:mm:ss, UTC)",
        "line 4: Sent Amount '1;5' is not a number",
    ]
    assert TaxTransaction.objects.count() == before
