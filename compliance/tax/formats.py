"""CSV formats (pure): capital gains, IRS Form 8949, Koinly universal and CoinTracking exports,
and the parsers that read Koinly, CoinTracking and Peregrine's own transaction CSV back.

Writers yield rows one at a time (the views stream them); parsers check every line first and
raise CsvImportError naming each bad line, so a bad file writes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from compliance.tax.normalize import (
    FLOW_KINDS,
    Flow,
    PriceLookup,
    Trade,
    is_cash,
    trade_value,
)

CENT = Decimal("0.01")
KOINLY_DATE = "%Y-%m-%d %H:%M:%S"
COINTRACKING_DATE = "%Y-%m-%d %H:%M:%S"
KOINLY_HEADER = [
    "Date", "Sent Amount", "Sent Currency", "Received Amount", "Received Currency",
    "Fee Amount", "Fee Currency", "Net Worth Amount", "Net Worth Currency", "Tag",
    "Description", "TxHash",
]  # fmt: skip
COINTRACKING_HEADER = [
    "Type", "Buy Amount", "Buy Currency", "Sell Amount", "Sell Currency", "Fee",
    "Fee Currency", "Exchange", "Trade-Group", "Comment", "Date",
]  # fmt: skip
FORM_8949_HEADER = [
    "Box", "(a) Description of property", "(b) Date acquired", "(c) Date sold or disposed of",
    "(d) Proceeds", "(e) Cost or other basis", "(f) Code(s)", "(g) Amount of adjustment",
    "(h) Gain or (loss)", "Note",
]  # fmt: skip
GAINS_HEADER = [
    "Asset", "Amount", "Date acquired (UTC)", "Date disposed (UTC)", "Proceeds USD",
    "Cost basis USD", "Gain USD", "Term", "Wallet", "Disposal", "Lot", "Method", "Flag",
]  # fmt: skip
TRANSACTION_HEADER = ["date", "kind", "asset", "amount", "wallet", "to_wallet", "fee",
                      "value_usd", "note"]  # fmt: skip
INCOME_TAGS = {"income", "reward", "mining", "staking", "airdrop", "lending interest"}
INCOME_TYPES = {"income", "mining", "staking", "reward / bonus", "airdrop", "interest income"}
ASSET = re.compile(r"^[A-Z0-9]{1,16}$")
# Boxes of Form 8949: short-term then long-term, by what the 1099 said (2025+: digital assets).
BOXES = {
    "basis_reported": (("A", "D"), ("G", "J")),
    "basis_not_reported": (("B", "E"), ("H", "K")),
    "none": (("C", "F"), ("I", "L")),
}


_COMMENT_VALUE = re.compile(r"\(USD (\d+(?:\.\d+)?)\)$")
_FORMAT_NAMES = {KOINLY_DATE: "YYYY-MM-DD HH:mm:ss"}


class CsvImportError(ValueError):
    """A file with bad lines: `errors` names each one; nothing was written."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:20]))
        self.errors = errors


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    """The CSV text of header and rows, one line at a time (for a streaming response)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def number(value: Decimal | None) -> str:
    """An exact decimal with a point, no exponent and no thousands separator."""
    if value is None:
        return ""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def box_for(year: int, long_term: bool, reporting: str) -> str:
    before, since = BOXES[reporting]
    return (since if year >= 2025 else before)[1 if long_term else 0]


def gains_rows(report) -> Iterator[list]:
    for line in report.lines:
        d, p = line.disposal, line.piece
        flag = "" if not line.flagged else _flag_text(line)
        yield [
            d.asset, number(p.amount),
            p.acquired_at.strftime(KOINLY_DATE) if p.acquired_at else "",
            d.disposed_at.strftime(KOINLY_DATE), money(p.proceeds), money(p.cost),
            money(p.proceeds) if p.lot is None else money(p.gain), p.term,
            line.wallet, d.ref, p.lot.ref if p.lot else "", d.method, flag,
        ]  # fmt: skip


def _flag_text(line) -> str:
    if line.piece.lot is None:
        return "no acquisition found: basis unknown"
    if not line.piece.cost_known:
        return "basis unknown"
    return "proceeds unknown"


def form8949_rows(report) -> Iterator[list]:
    """Form 8949 lines (one per lot fraction), short-term boxes first, then long-term."""
    lines = sorted(report.lines, key=lambda line: line.piece.long_term)
    for line in lines:
        d, p = line.disposal, line.piece
        proceeds, cost = money(p.proceeds), money(p.cost)
        yield [
            box_for(report.year, p.long_term, report.settings.reporting),
            f"{number(p.amount)} {d.asset}",
            p.acquired_at.strftime("%m/%d/%Y") if p.acquired_at else "VARIOUS",
            d.disposed_at.strftime("%m/%d/%Y"), proceeds, cost, "", "",
            str(Decimal(proceeds) - Decimal(cost)), _flag_text(line) if line.flagged else "",
        ]  # fmt: skip


def koinly_rows(records: Iterable[Trade | Flow], prices: PriceLookup,
                label: Callable[[str], str]) -> Iterator[list]:  # fmt: skip
    """The whole history in Koinly's universal format (UTC dates, USD net worth)."""
    for r in records:
        date = r.at.strftime(KOINLY_DATE)
        if isinstance(r, Trade):
            value = trade_value(r, prices)
            yield [date, number(r.given_amount), r.given_asset, number(r.received_amount),
                   r.received_asset, number(r.fee) if r.fee else "", r.fee_asset if r.fee else "",
                   number(value), "USD" if value is not None else "", "",
                   f"trade on {label(r.wallet)}", r.ref]  # fmt: skip
            continue
        value = r.value_usd
        fee = [number(r.fee), r.asset] if r.fee else ["", ""]
        worth = [number(value), "USD"] if value is not None else ["", ""]
        if r.kind == "transfer":
            note = f"transfer from {label(r.wallet)} to {label(r.to_wallet)}"
            yield [date, number(r.amount), r.asset, "", "", *fee, "", "", "", note, r.ref]
            yield [date, "", "", number(r.amount), r.asset, "", "", "", "", "", note, r.ref]
        elif r.kind in ("deposit", "income"):
            tag = "income" if r.kind == "income" else ""
            yield [date, "", "", number(r.amount), r.asset, "", "", *worth, tag,
                   f"{r.kind} on {label(r.wallet)}", r.ref]  # fmt: skip
        else:
            tag = "cost" if r.kind == "fee" else ""
            yield [date, number(r.amount), r.asset, "", "", "", "", *worth, tag,
                   f"{r.kind} on {label(r.wallet)}", r.ref]  # fmt: skip


def _comment(ref: str, value: Decimal | None) -> str:
    """CoinTracking has no value column: the USD value Peregrine used rides in the comment."""
    return ref if value is None else f"{ref} (USD {number(value)})"


def cointracking_rows(records: Iterable[Trade | Flow], prices: PriceLookup,
                      label: Callable[[str], str]) -> Iterator[list]:  # fmt: skip
    """The whole history in CoinTracking's CSV import format (UTC dates)."""
    for r in records:
        date = r.at.strftime(COINTRACKING_DATE)
        if isinstance(r, Trade):
            value = trade_value(r, prices)
            yield ["Trade", number(r.received_amount), r.received_asset, number(r.given_amount),
                   r.given_asset, number(r.fee) if r.fee else "", r.fee_asset if r.fee else "",
                   label(r.wallet), "", _comment(r.ref, value), date]  # fmt: skip
            continue
        fee = [number(r.fee), r.asset] if r.fee else ["", ""]
        comment = _comment(r.ref, r.value_usd)
        if r.kind == "transfer":
            group = f"transfer {r.ref}"
            yield ["Withdrawal", "", "", number(r.amount), r.asset, *fee, label(r.wallet), group,
                   comment, date]  # fmt: skip
            yield ["Deposit", number(r.amount), r.asset, "", "", "", "", label(r.to_wallet),
                   group, comment, date]  # fmt: skip
        elif r.kind in ("deposit", "income"):
            yield ["Income" if r.kind == "income" else "Deposit", number(r.amount), r.asset, "",
                   "", "", "", label(r.wallet), "", comment, date]  # fmt: skip
        else:
            kind = "Other Fee" if r.kind == "fee" else "Withdrawal"
            yield [kind, "", "", number(r.amount), r.asset, "", "", label(r.wallet), "", comment,
                   date]  # fmt: skip


# -- parsing ---------------------------------------------------------------------------------


class _Line:
    """One CSV line being read: field accessors that collect errors instead of raising."""

    def __init__(self, number: int, row: dict, errors: list[str]):
        self.number, self.row, self.errors = number, row, errors

    def error(self, message: str) -> None:
        self.errors.append(f"line {self.number}: {message}")

    def text(self, name: str) -> str:
        return (self.row.get(name) or "").strip()

    def amount(self, name: str, *, required: bool = False) -> Decimal | None:
        raw = self.text(name)  # a decimal point only: "1,5" is refused, not read as 15
        if not raw:
            if required:
                self.error(f"{name} is required")
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.error(f"{name} {raw!r} is not a number")
            return None
        if not value.is_finite() or value < 0:
            self.error(f"{name} {raw!r} must be a positive number")
            return None
        return value

    def asset(self, name: str, *, required: bool = False) -> str:
        raw = self.text(name).upper()
        if raw and not ASSET.match(raw):
            self.error(f"{name} {raw!r} is not an asset symbol")
        elif not raw and required:
            self.error(f"{name} is required")
        return raw

    def date(self, name: str, fmt: str | None) -> datetime | None:
        raw = self.text(name)
        try:
            if fmt:
                return datetime.strptime(raw, fmt).replace(tzinfo=UTC)
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        except ValueError:
            expected = _FORMAT_NAMES.get(fmt, "ISO 8601")
            self.error(f"{name} {raw!r} is not a date ({expected}, UTC)")
            return None


def _reader(lines: Iterable[str], required: list[str]) -> csv.DictReader:
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [name for name in required if name not in header]
    if missing:
        raise CsvImportError([f"line 1: missing column(s) {', '.join(missing)}"])
    reader.fieldnames = header
    return reader


def _row_id(row: dict) -> str:
    return hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest()[:32]


def _quote(given: str, received: str) -> str:
    return given if is_cash(given) or not is_cash(received) else received


def _pair_transfers(items: list[dict], errors: list[str]) -> list[dict]:
    """Join a withdrawal and a deposit of one transfer (same id) into one transfer."""
    out, pending = [], {}
    for item in items:
        key = item.pop("_transfer", None)
        if not key:
            out.append(item)
        elif key in pending:
            first = pending.pop(key)
            sent, received = (first, item) if first["kind"] == "withdrawal" else (item, first)
            sent.update(kind="transfer", to_wallet=received["wallet"])
            out.append(sent)
        else:
            pending[key] = item
    out.extend(pending.values())  # a lone half stays a plain deposit or withdrawal
    return out


def parse_koinly(lines: Iterable[str], *, wallet: str) -> list[dict]:
    """Transactions from a Koinly universal CSV (all into `wallet`); CsvImportError if bad."""
    reader = _reader(lines, ["Date", "Sent Amount", "Sent Currency", "Received Amount",
                             "Received Currency"])  # fmt: skip
    errors: list[str] = []
    items: list[dict] = []
    hashes: dict[str, int] = {}
    for n, row in enumerate(reader, start=2):
        line = _Line(n, row, errors)
        at = line.date("Date", KOINLY_DATE)
        sent, sent_cur = line.amount("Sent Amount"), line.asset("Sent Currency")
        got, got_cur = line.amount("Received Amount"), line.asset("Received Currency")
        fee, fee_cur = line.amount("Fee Amount"), line.asset("Fee Currency")
        worth = line.amount("Net Worth Amount")
        worth_cur = line.text("Net Worth Currency").upper()
        tag = (line.text("Tag") or line.text("Label")).lower()
        tx_hash = line.text("TxHash")
        if (sent and not sent_cur) or (got and not got_cur) or (fee and not fee_cur):
            line.error("an amount has no currency")
        bad = bool(errors) and errors[-1].startswith(f"line {n}:")
        if not sent and not got and not bad:
            line.error("neither Sent Amount nor Received Amount is given")
        if worth is not None and worth_cur not in ("", "USD"):
            line.error(f"Net Worth Currency {worth_cur!r} is not USD")
        if errors and errors[-1].startswith(f"line {n}:") or at is None:
            continue
        value = worth if worth_cur == "USD" else None
        base = {"occurred_at": at, "wallet": wallet, "fee": fee or Decimal(0),
                "fee_asset": fee_cur if fee else "",
                "note": line.text("Description")[:500]}  # fmt: skip
        hashes[tx_hash] = hashes.get(tx_hash, 0) + 1
        ext = tx_hash or _row_id(row)
        if sent and got:
            items.append({**base, "kind": "trade", "asset": got_cur, "amount": got,
                          "given_asset": sent_cur, "given_amount": sent,
                          "quote": _quote(sent_cur, got_cur), "value_usd": value,
                          "external_id": ext})  # fmt: skip
        elif got:
            kind = "income" if tag in INCOME_TAGS else "deposit"
            items.append({**base, "kind": kind, "asset": got_cur, "amount": got,
                          "value_usd": value, "external_id": ext,
                          "_transfer": tx_hash if not tag and tx_hash else None})  # fmt: skip
        else:
            kind = "fee" if tag == "cost" else "withdrawal"
            if fee and fee_cur != sent_cur:
                line.error("a transfer's fee must be in the sent currency")
            items.append({**base, "kind": kind, "asset": sent_cur, "amount": sent,
                          "value_usd": value, "external_id": ext,
                          "_transfer": tx_hash if not tag and tx_hash else None})  # fmt: skip
    if errors:
        raise CsvImportError(errors)
    for item in items:  # only a shared TxHash makes a withdrawal and a deposit one transfer
        if item.get("_transfer") and hashes.get(item["_transfer"], 0) != 2:
            item["_transfer"] = None
    return _pair_transfers(items, errors)


def parse_cointracking(lines: Iterable[str]) -> list[dict]:
    """Transactions from a CoinTracking CSV (wallet = the Exchange column); CsvImportError."""
    reader = _reader(lines, COINTRACKING_HEADER)
    errors: list[str] = []
    items: list[dict] = []
    for n, row in enumerate(reader, start=2):
        line = _Line(n, row, errors)
        kind_raw = line.text("Type").lower()
        at = line.date("Date", COINTRACKING_DATE)
        buy, buy_cur = line.amount("Buy Amount"), line.asset("Buy Currency")
        sell, sell_cur = line.amount("Sell Amount"), line.asset("Sell Currency")
        fee, fee_cur = line.amount("Fee"), line.asset("Fee Currency")
        wallet = line.text("Exchange") or "CoinTracking"
        group = line.text("Trade-Group")
        base = {"occurred_at": at, "wallet": wallet[:100], "fee": fee or Decimal(0),
                "fee_asset": fee_cur if fee else "", "note": line.text("Comment")[:500],
                "value_usd": None}  # fmt: skip
        ext = _row_id(row) if not group.startswith("transfer ") else group
        value = _COMMENT_VALUE.search(line.text("Comment"))
        base["value_usd"] = Decimal(value.group(1)) if value else None
        if kind_raw == "trade":
            if not (buy and buy_cur and sell and sell_cur):
                line.error("a Trade needs Buy and Sell amounts and currencies")
            item = {**base, "kind": "trade", "asset": buy_cur, "amount": buy,
                    "given_asset": sell_cur, "given_amount": sell,
                    "quote": _quote(sell_cur, buy_cur), "external_id": ext}  # fmt: skip
        elif kind_raw == "deposit" or kind_raw in INCOME_TYPES:
            if not (buy and buy_cur):
                line.error(f"a {line.text('Type')} needs a Buy Amount and Currency")
            kind = "deposit" if kind_raw == "deposit" else "income"
            item = {**base, "kind": kind, "asset": buy_cur, "amount": buy, "external_id": ext,
                    "_transfer": group if group.startswith("transfer ") else None}  # fmt: skip
        elif kind_raw in ("withdrawal", "other fee"):
            if not (sell and sell_cur):
                line.error(f"a {line.text('Type')} needs a Sell Amount and Currency")
            kind = "fee" if kind_raw == "other fee" else "withdrawal"
            item = {**base, "kind": kind, "asset": sell_cur, "amount": sell, "external_id": ext,
                    "_transfer": group if group.startswith("transfer ") else None}  # fmt: skip
        else:
            line.error(f"Type {line.text('Type')!r} is not supported (Trade, Deposit, "
                       "Withdrawal, Income, Other Fee)")  # fmt: skip
            continue
        if at is not None:
            items.append(item)
    if errors:
        raise CsvImportError(errors)
    return _pair_transfers(items, errors)


def parse_transactions(lines: Iterable[str], *, wallets: Callable[[str], str]) -> list[dict]:
    """Peregrine's own CSV of deposits, withdrawals, transfers, income and fees."""
    reader = _reader(lines, ["date", "kind", "asset", "amount", "wallet"])
    errors: list[str] = []
    items: list[dict] = []
    for n, row in enumerate(reader, start=2):
        line = _Line(n, row, errors)
        at = line.date("date", None)
        kind = line.text("kind").lower()
        if kind not in FLOW_KINDS:
            line.error(f"kind {line.text('kind')!r} is not one of {', '.join(FLOW_KINDS)}")
        asset = line.asset("asset", required=True)
        amount = line.amount("amount", required=True)
        if amount is not None and amount == 0:
            line.error("amount must be more than 0")
        wallet = wallets(line.text("wallet"))
        to_wallet = wallets(line.text("to_wallet")) if line.text("to_wallet") else ""
        if not line.text("wallet"):
            line.error("wallet is required")
        if kind == "transfer" and (not to_wallet or to_wallet == wallet):
            line.error("a transfer needs a to_wallet other than its wallet")
        fee = line.amount("fee") or Decimal(0)
        value = line.amount("value_usd")
        if errors and errors[-1].startswith(f"line {n}:"):
            continue
        items.append({"occurred_at": at, "kind": kind, "asset": asset, "amount": amount,
                      "wallet": wallet, "to_wallet": to_wallet, "fee": fee,
                      "fee_asset": asset if fee else "", "value_usd": value,
                      "note": line.text("note")[:500], "external_id": ""})  # fmt: skip
    if errors:
        raise CsvImportError(errors)
    return items
