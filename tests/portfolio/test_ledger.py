"""FIFO ledger on hand-built fills: every number worked out by hand in the comments."""

from __future__ import annotations

from decimal import Decimal as D

from portfolio.ledger import FifoLedger, LedgerFill


def _fill(side, qty, price, fee="0", fee_asset="USDT", symbol="BTC/USDT"):
    return LedgerFill(symbol, side, D(qty), D(price), D(fee), fee_asset)


def test_sells_close_the_oldest_lots_first():
    ledger = FifoLedger()
    assert ledger.apply(_fill("buy", "1", "100")) == 0
    assert ledger.apply(_fill("buy", "2", "110")) == 0
    # 1 @ 100 -> +20, then 1.5 of the 110 lot -> +15 (average cost would give 33.33...)
    assert ledger.apply(_fill("sell", "2.5", "120")) == D("35")
    assert ledger.apply(_fill("buy", "1", "90")) == 0
    # the 0.5 left of the 110 lot -> -7.5, then 0.5 of the 90 lot -> +2.5
    assert ledger.apply(_fill("sell", "1", "95")) == D("-5")

    book = ledger.books["BTC/USDT"]
    assert ledger.realized == D("30")
    assert book.position == D("0.5") and book.average_price == D("90")
    assert [(lot.qty, lot.price) for lot in book.lots] == [(D("0.5"), D("90"))]
    assert ledger.unrealized({"BTC/USDT": D("100")}) == D("5")
    assert (ledger.fills, ledger.closing_fills, ledger.winning_fills) == (5, 2, 1)
    assert (book.bought, book.sold) == (D("4"), D("3.5"))


def test_selling_without_inventory_opens_a_short_lot_closed_by_later_buys():
    ledger = FifoLedger()
    ledger.apply(_fill("sell", "1", "100"))
    ledger.apply(_fill("sell", "1", "104"))
    assert ledger.books["BTC/USDT"].position == D("-2")
    assert ledger.unrealized({"BTC/USDT": D("101")}) == D("-1") + D("3")
    # the first short (100) closes first: 100 - 98 = +2; the buy's other unit closes 104: +6
    assert ledger.apply(_fill("buy", "2", "98")) == D("8")
    assert ledger.books["BTC/USDT"].position == 0 and ledger.realized == D("8")


def test_a_fill_that_crosses_zero_closes_then_opens_the_other_side():
    ledger = FifoLedger()
    ledger.apply(_fill("buy", "1", "100"))
    assert ledger.apply(_fill("sell", "3", "110")) == D("10")
    book = ledger.books["BTC/USDT"]
    assert book.position == D("-2") and book.average_price == D("110")
    assert ledger.unrealized({"BTC/USDT": D("100")}) == D("20")


def test_fees_are_kept_by_asset_and_valued_in_quote_at_the_fill_price():
    ledger = FifoLedger()
    ledger.apply(_fill("buy", "1", "100", fee="0.001", fee_asset="BTC"))
    ledger.apply(_fill("sell", "1", "110", fee="0.11", fee_asset="USDT"))
    ledger.apply(_fill("buy", "1", "3", fee="0.5", fee_asset="BNB", symbol="ETH/BTC"))
    assert ledger.fees == {"BTC": D("0.001"), "USDT": D("0.11"), "BNB": D("0.5")}
    # 0.001 BTC at 100 = 0.1 USDT; BNB cannot be valued from these fills alone
    assert ledger.fees_in_quote == {"USDT": D("0.21")}


def test_symbols_keep_separate_books():
    ledger = FifoLedger()
    ledger.apply(_fill("buy", "1", "100"))
    ledger.apply(_fill("sell", "1", "0.05", symbol="ETH/BTC"))
    ledger.apply(_fill("sell", "1", "90"))
    assert ledger.books["BTC/USDT"].realized == D("-10")
    assert ledger.books["ETH/BTC"].position == D("-1")


def test_snapshot_and_restore_continue_exactly():
    fills = [
        _fill("buy", "0.3", "100.1", fee="0.03"),
        _fill("buy", "0.7", "100.3"),
        _fill("sell", "0.5", "101.7", fee="0.0005", fee_asset="BTC"),
        _fill("sell", "0.9", "99.9"),
        _fill("buy", "0.4", "98.2"),
    ]
    whole = FifoLedger().apply_all(fills)
    first = FifoLedger().apply_all(fills[:2])
    resumed = FifoLedger.restore(first.snapshot()).apply_all(fills[2:])
    assert resumed.snapshot() == whole.snapshot()
    assert resumed.realized == whole.realized
    # the 0.5 sell also pays 0.0005 BTC, so it disposes of 0.5005: 0.3@100.1 +0.48,
    # 0.2005@100.3 +0.2807 | 0.4995@100.3 -0.1998, then short 0.4005@99.9, 0.4 closed at 98.2 +0.68
    assert whole.realized == D("0.48") + D("0.2807") - D("0.1998") + D("0.68")
    # what the fee took is missing from the holdings, as on the exchange
    assert whole.books["BTC/USDT"].position == D("-0.0005")


def test_a_fee_in_the_base_asset_moves_the_position_as_on_the_exchange():
    ledger = FifoLedger()
    # Binance takes a buyer's fee from the coins received: 1 bought, 0.001 fee -> 0.999 held
    ledger.apply(_fill("buy", "1", "100", fee="0.001", fee_asset="BTC"))
    book = ledger.books["BTC/USDT"]
    assert book.position == D("0.999") and book.average_price == D("100")
    # selling everything held closes the lot and leaves nothing behind
    assert ledger.apply(_fill("sell", "0.999", "110", fee="0.10989", fee_asset="USDT")) == D("9.99")
    assert book.position == 0 and not book.lots
    # net PnL = 9.99 realized - (0.001 BTC at 100 + 0.10989 USDT) = 99.89 - 100 + ... by hand:
    # paid 100 USDT, received 0.999 * 110 - 0.10989 = 109.78011 -> +9.78011
    assert ledger.realized - ledger.fees_quote_total == D("9.78011")
    # a sell whose fee is charged in the base asset disposes of qty + fee
    ledger.apply(_fill("buy", "2", "100"))
    ledger.apply(_fill("sell", "1", "100", fee="0.002", fee_asset="BTC"))
    assert book.position == D("0.998")
    assert (book.bought, book.sold) == (D("3"), D("1.999"))


def test_a_checkpoint_made_under_other_ledger_rules_is_not_resumed():
    from portfolio.ledger import LEDGER_VERSION

    state = FifoLedger().apply_all([_fill("buy", "1", "100")]).snapshot()
    assert state["version"] == LEDGER_VERSION
