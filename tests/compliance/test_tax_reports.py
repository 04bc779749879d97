"""Tax reports from the books (real Postgres): live fills and entries in, gains, Form 8949,
income and holdings out; exports stream and parse back; imports are all-or-nothing; every page
and endpoint is the owner's alone (bob gets 404 for alice's objects, anonymous is sent away)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from compliance.tax.reports import tax_report_build
from compliance.tax_models import TaxTransaction, TaxYear
from tests.compliance import tax_factories as f


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def books(alice):
    """Alice: live BTC fills on one account, a paper bot, income, and a 2025 long-term sale."""
    main = f.account(alice, "Main")
    live = f.bot(alice, "live")
    paper = f.bot(alice, "paper")
    f.fill(live, at(2024, 1, 10), "buy", "1", "40000", fee="40", acct=main)
    f.fill(live, at(2024, 6, 1), "sell", "0.5", "60000", fee="30", acct=main)
    f.fill(paper, at(2024, 7, 1), "buy", "2", "50000")
    f.fill(live, at(2025, 3, 1), "sell", "0.25", "80000", acct=main)  # held > 365 days
    f.candle("ETH/USDT", at(2024, 3, 1), "3000")
    TaxTransaction.objects.create(
        user=alice,
        kind="income",
        occurred_at=at(2024, 3, 1),
        asset="ETH",
        amount=D("0.5"),
        wallet=f"account:{main.pk}",
    )
    f.candle("BTC/USDT", at(2024, 12, 31, 23, 59), "90000")
    f.candle("ETH/USDT", at(2024, 12, 31, 23, 59), "3500")
    return main


def test_report_counts_live_fills_lot_by_lot_and_leaves_paper_out(alice, books):
    report = tax_report_build(user=alice, year=2024)
    (line,) = report.lines
    assert line.piece.lot.acquired_at == at(2024, 1, 10)
    assert line.piece.cost == D("20020") and line.piece.proceeds == D("29970")
    assert line.piece.gain == D("9950") and line.piece.term == "short"
    assert line.wallet == "Main (sandbox)"
    assert report.by_term["short"].gain == D("9950") and report.by_term["long"].lines == 0
    (income,) = report.incomes
    assert income.value == D("1500")  # 0.5 ETH at the stored 3000 close
    holdings = {h.asset: h for h in report.holdings}
    assert holdings["BTC"].amount == D("0.5") and holdings["BTC"].unrealized == D("24980")
    assert holdings["ETH"].cost == D("1500") and holdings["ETH"].unrealized == D("250")


def test_paper_fills_count_when_the_year_says_so(alice, books):
    TaxYear.objects.create(user=alice, year=2024, include_paper=True)
    report = tax_report_build(user=alice, year=2024)
    assert {h.asset: h.amount for h in report.holdings}["BTC"] == D("2.5")  # 0.5 live + 2 paper
    assert tax_report_build(user=alice, year=2023).holdings == []


def test_long_term_sale_of_2025_lands_in_box_l_of_form_8949(alice, alice_client, books):
    response = alice_client.get("/compliance/tax/2025/form8949.csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "Box",
        "(a) Description of property",
        "(b) Date acquired",
        "(c) Date sold or disposed of",
        "(d) Proceeds",
        "(e) Cost or other basis",
        "(f) Code(s)",
        "(g) Amount of adjustment",
        "(h) Gain or (loss)",
        "Note",
    ]
    assert rows[1] == [
        "L",
        "0.25 BTC",
        "01/10/2024",
        "03/01/2025",
        "20000.00",
        "10010.00",
        "",
        "",
        "9990.00",
        "",
    ]


def test_form_8949_before_2025_uses_boxes_a_to_f(alice, alice_client, books):
    rows = list(
        csv.reader(
            io.StringIO(
                b"".join(
                    alice_client.get("/compliance/tax/2024/form8949.csv").streaming_content
                ).decode()
            )
        )
    )
    assert [r[0] for r in rows[1:]] == ["C"]
    for row in rows[1:]:
        assert re.fullmatch(r"\d\d/\d\d/\d{4}", row[2]) and re.fullmatch(r"-?\d+\.\d\d", row[4])
        assert D(row[8]) == D(row[4]) - D(row[5])
    TaxYear.objects.create(user=alice, year=2024, reporting="basis_reported")
    rows = list(
        csv.reader(
            io.StringIO(
                b"".join(
                    alice_client.get("/compliance/tax/2024/form8949.csv").streaming_content
                ).decode()
            )
        )
    )
    assert rows[1][0] == "A"


def test_page_prints_method_scope_totals_and_links(alice_client, books):
    page = alice_client.get("/compliance/tax/2024/").content.decode()
    assert "Method: FIFO (first in, first out)" in page and "Universal: one pool" in page
    assert "9,950.00" in page and "24,980.00" in page and "1,500.00" in page
    assert "/compliance/tax/2024/form8949.csv" in page and "Koinly CSV" in page


def test_settings_change_the_method_of_their_year(alice, alice_client, books):
    f.fill(f.bot(alice), at(2024, 2, 1), "buy", "1", "30000", acct=books)
    response = alice_client.post(
        "/compliance/tax/2024/settings/", {"method": "hifo", "scope": "wallet", "reporting": "none"}
    )
    assert response.status_code == 302
    report = tax_report_build(user=alice, year=2024)
    assert report.settings.method == "hifo" and report.lines[0].piece.cost == D("20020")
    assert "Method: HIFO" in alice_client.get("/compliance/tax/2024/").content.decode()


def test_api_report_is_the_callers_own(alice, bob, client, api_token_for, books):
    token = api_token_for(alice)
    data = client.get("/api/v1/tax/years/2024/", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert data["method"] == "fifo" and data["scope"] == "universal"
    assert data["totals"]["short"]["gain"] == "9950.00" and len(data["lines"]) == 1
    bob_token = api_token_for(bob)
    theirs = client.get("/api/v1/tax/years/2024/", HTTP_AUTHORIZATION=f"Bearer {bob_token}")
    assert theirs.status_code == 200 and theirs.json()["lines"] == []
    assert theirs.json()["holdings"] == [] and theirs.json()["income"] == []
    exported = client.get(
        "/api/v1/tax/years/2024/gains.csv", HTTP_AUTHORIZATION=f"Bearer {bob_token}"
    )
    assert len(b"".join(exported.streaming_content).decode().splitlines()) == 1  # header only
    assert client.get("/api/v1/tax/years/2024/").status_code in (401, 403)
    assert (
        client.get("/api/v1/tax/years/1900/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code
        == 404
    )


def test_anonymous_is_sent_to_sign_in(anonymous_client, books):
    for url in [
        "/compliance/tax/2024/",
        "/compliance/tax/transactions/",
        "/compliance/tax/2024/gains.csv",
        "/compliance/tax/history/koinly.csv",
    ]:
        response = anonymous_client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_bob_cannot_delete_alices_transaction(alice, bob_client, client, api_token_for, books):
    tx = TaxTransaction.objects.get(user=alice)
    assert bob_client.post(f"/compliance/tax/transactions/{tx.pk}/delete/").status_code == 404
    token = api_token_for(alice.__class__.objects.get(email__startswith="bob"), "trade")
    api = client.delete(f"/api/v1/tax/transactions/{tx.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.status_code == 404
    got = client.get(f"/api/v1/tax/transactions/{tx.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert got.status_code == 404
    assert TaxTransaction.objects.filter(pk=tx.pk, amount=D("0.5")).exists()


def test_bob_cannot_import_alices_exchange_history(bob, client, api_token_for, books):
    token = api_token_for(bob, "trade")
    response = client.post(
        "/api/v1/tax/exchange-import/",
        {
            "account": str(books.pk),
            "since": "2024-01-01T00:00:00Z",
            "until": "2024-02-01T00:00:00Z",
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 404


GOOD = """date,kind,asset,amount,wallet,to_wallet,fee,value_usd,note
2024-02-01T00:00:00Z,deposit,BTC,0.1,Ledger,,,3000,from old savings
2024-02-02T00:00:00Z,transfer,BTC,0.05,Ledger,Main,0.0001,,
2024-02-03T00:00:00Z,income,ETH,1,Main,,,2500,staking
"""


def test_csv_import_names_a_bad_line_and_writes_nothing(alice, alice_client, books):
    before = TaxTransaction.objects.count()
    bad = GOOD + "2024-02-04,swap,BTC,1,Main,,,,\n2024-02-05T00:00:00Z,fee,BTC,1;5,Main,,,,\n"
    response = alice_client.post(
        "/compliance/tax/transactions/import/",
        {"format": "peregrine", "file": io.BytesIO(bad.encode()), "wallet": ""},
    )
    page = response.content.decode()
    assert response.status_code == 400 and "Nothing was imported" in page
    assert "line 5: kind &#x27;swap&#x27; is not one of" in page
    assert "line 6: amount &#x27;1;5&#x27; is not a number" in page
    assert TaxTransaction.objects.count() == before


def test_api_csv_import_resolves_account_labels_and_needs_trade_scope(
    alice, client, api_token_for, books
):
    token = api_token_for(alice, "trade")
    response = client.post(
        "/api/v1/tax/transactions/import/",
        {"format": "peregrine", "content": GOOD},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.json() == {"created": 3, "skipped": 0}
    transfer = TaxTransaction.objects.get(user=alice, kind="transfer")
    assert transfer.wallet == "Ledger" and transfer.to_wallet == f"account:{books.pk}"
    assert transfer.fee == D("0.0001") and transfer.fee_asset == "BTC"
    read = api_token_for(alice, "read")
    refused = client.post(
        "/api/v1/tax/transactions/import/",
        {"format": "peregrine", "content": GOOD},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {read}",
    )
    assert refused.status_code == 403


def test_api_entry_is_validated_and_recorded(alice, client, api_token_for, books):
    token = api_token_for(alice, "trade")
    bad = client.post(
        "/api/v1/tax/transactions/",
        {
            "kind": "transfer",
            "occurred_at": "2024-05-01T00:00:00Z",
            "asset": "BTC",
            "amount": "0.1",
            "wallet": "Main",
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert bad.status_code == 400 and "to_wallet" in bad.json()["error"]["fields"]
    good = client.post(
        "/api/v1/tax/transactions/",
        {
            "kind": "withdrawal",
            "occurred_at": "2024-05-01T00:00:00Z",
            "asset": "btc",
            "amount": "0.1",
            "wallet": "Main",
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert good.status_code == 201 and good.json()["wallet"] == f"account:{books.pk}"
    report = tax_report_build(user=alice, year=2024)
    assert report.lines[0].piece.amount == D("0.5")  # a withdrawal is not a disposal
    assert {h.asset: h.amount for h in report.holdings}["BTC"] == D("0.4")


def test_page_entry_form_adds_a_deposit(alice, alice_client, books):
    response = alice_client.post(
        "/compliance/tax/transactions/",
        {
            "kind": "deposit",
            "occurred_at": "2024-04-01T10:00",
            "asset": "sol",
            "amount": "3",
            "wallet": "Main",
            "to_wallet": "",
            "fee": "0",
            "value_usd": "300",
            "note": "",
        },
    )
    assert response.status_code == 302
    tx = TaxTransaction.objects.get(user=alice, asset="SOL")
    assert tx.wallet == f"account:{books.pk}" and tx.value_usd == D("300")
    assert "SOL" in alice_client.get("/compliance/tax/transactions/").content.decode()
