"""Golden tests of the lot engine, built by hand: each method and scope, partial lots, fees in a
third asset, own transfers, the year boundary and the 365-day rule (pure, no database)."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from compliance.tax.engine import compute
from compliance.tax.normalize import Flow, no_prices, normalize, trade_from_fill


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fill(ref, when, side, qty, price, fee="0", fee_asset="USDT", symbol="BTC/USDT", wallet="A"):
    return trade_from_fill(
        ref=ref, at=when, wallet=wallet, symbol=symbol, side=side, price=D(price), qty=D(qty),
        fee=D(fee), fee_asset=fee_asset,
    )  # fmt: skip


THREE_LOTS = [
    fill("b1", at(2020, 1, 1), "buy", "1", "10000", fee="10"),  # basis 10010
    fill("b2", at(2020, 2, 1), "buy", "1", "20000"),
    fill("b3", at(2020, 3, 1), "buy", "1", "15000"),
    fill("s1", at(2020, 6, 1), "sell", "1.5", "30000", fee="45"),  # proceeds 44955
    fill("s2", at(2020, 7, 1), "sell", "1.5", "30000"),
]


def ledger(records, **kwargs):
    return compute(normalize(records, no_prices).events, **kwargs)


@pytest.mark.parametrize(
    ("method", "first_pieces", "first_gain"),
    [
        ("fifo", [("b1", "1", "10010"), ("b2", "0.5", "10000")], "24945"),
        ("lifo", [("b3", "1", "15000"), ("b2", "0.5", "10000")], "19955"),
        ("hifo", [("b2", "1", "20000"), ("b3", "0.5", "7500")], "17455"),
        ("lofo", [("b1", "1", "10010"), ("b3", "0.5", "7500")], "27445"),
    ],
)
def test_each_method_consumes_its_lots_and_splits_a_partial_lot(method, first_pieces, first_gain):
    result = ledger(THREE_LOTS, methods=method)
    first, second = result.disposals
    assert [(p.lot.ref, p.amount, p.cost) for p in first.pieces] == [
        (ref, D(amount), D(cost)) for ref, amount, cost in first_pieces
    ]
    assert first.proceeds == D("44955") and first.gain == D(first_gain)
    # proceeds split pro rata by amount, adding up exactly
    assert first.pieces[0].proceeds == D("29970") and first.pieces[1].proceeds == D("14985")
    # the rest of the lots is consumed exactly: basis is neither created nor lost
    assert first.cost + second.cost == D("45010")
    assert not result.open_lots and not second.uncovered


def test_fee_in_a_third_asset_is_a_disposal_of_that_asset():
    prices = {("BNB", at(2020, 5, 1)): D("30")}
    records = [
        Flow("bnb", at(2020, 1, 1), "deposit", "BNB", D("10"), "A", value_usd=D("200")),
        fill(
            "eth", at(2020, 5, 1), "buy", "1", "200", fee="0.05", fee_asset="BNB", symbol="ETH/USDT"
        ),  # fmt: skip
    ]
    result = compute(normalize(records, lambda a, t: prices.get((a, t))).events)
    (fee,) = result.disposals
    assert (fee.asset, fee.kind, fee.amount) == ("BNB", "fee", D("0.05"))
    assert fee.proceeds == D("1.5") and fee.cost == D("1") and fee.gain == D("0.5")
    eth = next(lot for lot in result.lots if lot.asset == "ETH")
    assert eth.amount == D("1") and eth.cost == D("201.5")  # the fee's value adds to the basis


def test_fee_taken_from_the_bought_coins_lowers_the_amount_not_the_basis():
    result = ledger([fill("b", at(2021, 1, 1), "buy", "1", "10000", "0.001", "BTC")])
    (lot,) = result.lots
    assert lot.amount == D("0.999") and lot.cost == D("10000")


OWN_TRANSFER = [
    fill("a1", at(2021, 1, 1), "buy", "1", "10000", wallet="A"),
    fill("b1", at(2021, 2, 1), "buy", "1", "20000", wallet="B"),
    fill("b2", at(2021, 3, 1), "sell", "1", "30000", wallet="B"),
    Flow("t1", at(2021, 4, 1), "transfer", "BTC", D("0.5"), "A", to_wallet="B"),
    fill("b3", at(2021, 5, 1), "sell", "0.5", "40000", wallet="B"),
]


def test_per_wallet_lots_travel_with_an_own_transfer_which_is_not_a_disposal():
    result = ledger(OWN_TRANSFER, scope="wallet")
    first, second = result.disposals
    assert [p.lot.ref for p in first.pieces] == ["b1"] and first.gain == D("10000")
    (moved,) = result.transfers[0].pieces
    assert moved.lot.ref == "a1" and moved.wallet == "B" and moved.amount == D("0.5")
    assert [p.lot.ref for p in second.pieces] == ["a1"]
    assert second.pieces[0].acquired_at == at(2021, 1, 1) and second.cost == D("5000")
    assert [(o.wallet, o.lot.ref, o.amount) for o in result.open_lots] == [("A", "a1", D("0.5"))]


def test_universal_scope_pools_every_wallet_and_ignores_own_transfers():
    result = ledger(OWN_TRANSFER, scope="universal")
    first, second = result.disposals
    assert [p.lot.ref for p in first.pieces] == ["a1"] and first.gain == D("20000")
    assert [p.lot.ref for p in second.pieces] == ["b1"] and second.cost == D("10000")
    assert result.transfers[0].pieces == ()


def test_a_sale_from_an_empty_wallet_is_flagged_not_costed():
    records = [
        fill("a1", at(2021, 1, 1), "buy", "1", "100", wallet="A"),
        fill("b1", at(2021, 2, 1), "sell", "1", "200", wallet="B"),
    ]
    result = ledger(records, scope="wallet")
    (sale,) = result.disposals
    assert sale.uncovered == D("1") and sale.flagged and sale.cost == 0


def test_method_follows_the_tax_year_of_the_disposal_across_the_boundary():
    records = [
        fill("b1", at(2020, 1, 1), "buy", "1", "100"),
        fill("b2", at(2020, 6, 1), "buy", "1", "200"),
        fill("b3", at(2020, 9, 1), "buy", "1", "300"),
        fill("s2020", at(2020, 12, 31, 23, 59, 59), "sell", "1", "400"),
        fill("s2021", at(2021, 1, 1, 0, 0, 0), "sell", "1", "400"),
    ]
    result = ledger(records, methods={2020: "fifo", 2021: "lifo"})
    assert [d.ref for d in result.disposals_in(2020)] == ["s2020"]
    assert [d.ref for d in result.disposals_in(2021)] == ["s2021"]
    assert result.disposals[0].pieces[0].lot.ref == "b1"  # FIFO in 2020
    assert result.disposals[1].pieces[0].lot.ref == "b3"  # LIFO in 2021
    assert result.disposals[1].method == "lifo"


def test_long_term_means_held_more_than_365_days():
    records = [
        fill("b1", at(2020, 1, 1), "buy", "1", "100"),
        fill("b2", at(2020, 1, 2), "buy", "1", "100"),
        fill("s1", at(2020, 12, 31), "sell", "1", "200"),  # exactly 365 days (leap year)
        fill("s2", at(2021, 1, 2, 0, 0, 1), "sell", "1", "200"),  # 365 days and 1 second
    ]
    first, second = ledger(records).disposals
    assert first.pieces[0].term == "short" and second.pieces[0].term == "long"


def test_a_trade_without_any_usd_value_is_flagged_never_guessed():
    records = [fill("x", at(2021, 1, 1), "buy", "1", "0.05", fee="0", symbol="ETH/BTC")]
    normalized = normalize(records, no_prices)
    assert [f.ref for f in normalized.flags] == ["x"]
    result = compute(normalized.events)
    (sale,) = result.disposals  # BTC given
    assert not sale.proceeds_known and sale.flagged
    assert not result.lots[0].cost_known


def test_income_is_valued_and_opens_a_lot():
    prices = lambda asset, when: D("2") if asset == "ADA" else None  # noqa: E731
    normalized = normalize([Flow("r", at(2022, 3, 1), "income", "ADA", D("50"), "A")], prices)
    (income,) = normalized.incomes
    assert income.value == D("100")
    (lot,) = compute(normalized.events).lots
    assert lot.kind == "income" and lot.cost == D("100")


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown lot method"):
        ledger(THREE_LOTS, methods="average")


def test_the_engine_normalizer_and_formats_are_pure_python():
    import subprocess
    import sys

    code = (
        "import sys, compliance.tax.engine, compliance.tax.normalize, compliance.tax.formats;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')];"
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
