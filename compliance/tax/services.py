"""Writes of tax lots' inputs: per-year settings, entered and imported transactions.

Imports check the whole file before writing (a bad line is named and nothing is written) and
are idempotent: a line already imported (same source and id) is skipped, and an exchange trade
that is already a bot fill is not counted twice.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db import transaction

from compliance.services import audit_record
from compliance.tax.formats import parse_cointracking, parse_koinly, parse_transactions
from compliance.tax_models import TaxTransaction, TaxYear
from exchanges.models import ExchangeAccount
from trading.models import Fill

IMPORT_FORMATS = {
    "peregrine": TaxTransaction.Source.CSV,
    "koinly": TaxTransaction.Source.KOINLY,
    "cointracking": TaxTransaction.Source.COINTRACKING,
}
MAX_EXCHANGE_SYMBOLS = 50


def tax_year_save(*, user, year: int, method: str, scope: str, reporting: str,
                  include_paper: bool) -> TaxYear:  # fmt: skip
    """Choose the lot method, scope, Form 8949 reporting and paper fills for one tax year."""
    settings, _ = TaxYear.objects.update_or_create(
        user=user, year=year,
        defaults={"method": method, "scope": scope, "reporting": reporting,
                  "include_paper": include_paper},
    )  # fmt: skip
    audit_record(actor=user, action="tax.year_settings", target=settings,
                 after={"year": year, "method": method, "scope": scope, "reporting": reporting,
                        "include_paper": include_paper})  # fmt: skip
    return settings


def wallet_key_resolver(*, user):
    """Map a typed wallet (an account's label, `account:<id>`, or any name) to its key."""
    accounts = list(ExchangeAccount.objects.filter(user=user).values_list("pk", "label"))
    by_label = {label.lower(): f"account:{pk}" for pk, label in accounts}
    keys = {f"account:{pk}" for pk, _ in accounts}

    def resolve(text: str) -> str:
        text = text.strip()
        return text if text in keys else by_label.get(text.lower(), text[:100])

    return resolve


def tax_transaction_add(*, user, **fields) -> TaxTransaction:
    """Record one deposit, withdrawal, transfer, income or fee entered by the user."""
    tx = TaxTransaction(user=user, source=TaxTransaction.Source.MANUAL, **fields)
    tx.full_clean(exclude=["exchange_account"])
    tx.save()
    return tx


def tax_transaction_delete(*, user, tx: TaxTransaction) -> None:
    """Delete one of the user's own transactions (the caller fetched it scoped to the user)."""
    if tx.user_id != user.pk:
        raise PermissionError("not the owner")
    tx.delete()


def _store(user, source: str, items: list[dict]) -> tuple[int, int]:
    """Create what is not there yet; (created, skipped as already imported)."""
    ids = {item["external_id"] for item in items if item.get("external_id")}
    existing = set(
        TaxTransaction.objects.filter(user=user, source=source, external_id__in=ids).values_list(
            "external_id", flat=True
        )
    )
    fresh, seen = [], set()
    for item in items:
        ext = item.get("external_id", "")
        if ext and (ext in existing or ext in seen):
            continue
        seen.add(ext)
        fresh.append(TaxTransaction(user=user, source=source, **item))
    with transaction.atomic():
        TaxTransaction.objects.bulk_create(fresh, batch_size=2000)
    return len(fresh), len(items) - len(fresh)


def tax_transactions_import(*, user, fmt: str, text: str, wallet: str = "") -> tuple[int, int]:
    """Import a CSV file (Peregrine, Koinly or CoinTracking); (created, skipped)."""
    if fmt not in IMPORT_FORMATS:
        raise ValidationError(f"unknown format {fmt!r}")
    resolve = wallet_key_resolver(user=user)
    lines = text.lstrip("\ufeff").splitlines()
    if fmt == "koinly":
        if not wallet.strip():
            raise ValidationError("Choose the wallet the Koinly file belongs to.")
        items = parse_koinly(lines, wallet=resolve(wallet))
    elif fmt == "cointracking":
        items = parse_cointracking(lines)
        for item in items:
            item["wallet"] = resolve(item["wallet"])
            if item.get("to_wallet"):
                item["to_wallet"] = resolve(item["to_wallet"])
    else:
        items = parse_transactions(lines, wallets=resolve)
    created, skipped = _store(user, IMPORT_FORMATS[fmt], items)
    audit_record(actor=user, action="tax.import", target=None,
                 after={"format": fmt, "created": created, "skipped": skipped})  # fmt: skip
    return created, skipped


def _fetch_trades(account, symbols, since_ms: int, until_ms: int):
    from exchanges.gateway.accounts import gateway_for_account

    async def fetch():
        gateway = gateway_for_account(account)
        try:
            markets = await gateway.load_markets()
            wanted = symbols or sorted(markets)
            if len(wanted) > MAX_EXCHANGE_SYMBOLS:
                raise ValidationError(
                    f"{account.exchange} lists {len(wanted)} markets: name the ones you traded."
                )
            unknown = [s for s in wanted if s not in markets]
            if unknown:
                raise ValidationError(f"unknown market(s) on {account.exchange}: "
                                      + ", ".join(unknown))  # fmt: skip
            trades = []
            for symbol in wanted:
                cursor = since_ms
                while cursor < until_ms:
                    page = await gateway.fetch_my_trades(symbol=symbol, since=cursor, limit=500)
                    page = [t for t in page if cursor <= t.timestamp < until_ms]
                    trades.extend(page)
                    if len(page) < 500:
                        break
                    cursor = max(t.timestamp for t in page) + 1
            return trades
        finally:
            await gateway.close()

    return async_to_sync(fetch)()


def exchange_trades_import(*, user, account: ExchangeAccount, since: datetime, until: datetime,
                           symbols: list[str] | None = None) -> tuple[int, int]:  # fmt: skip
    """Import the account's trade history over [since, until) with ccxt fetch_my_trades.

    Idempotent: a trade already imported, or already booked as a bot fill, is skipped.
    """
    if account.user_id != user.pk:
        raise PermissionError("not the owner")
    if since >= until:
        raise ValidationError("The period must end after it starts.")
    trades = _fetch_trades(account, symbols, int(since.timestamp() * 1000),
                           int(until.timestamp() * 1000))  # fmt: skip
    fills = set(Fill.objects.filter(exchange_account=account).values_list("symbol", "trade_id"))
    items, already_fills = [], 0
    wallet = f"account:{account.pk}"
    from compliance.tax.normalize import trade_from_fill

    for t in trades:
        if (t.symbol, t.trade_id) in fills:
            already_fills += 1
            continue
        at = datetime.fromtimestamp(t.timestamp / 1000, tz=since.tzinfo)
        record = trade_from_fill(ref="", at=at, wallet=wallet, symbol=t.symbol, side=t.side,
                                 price=t.price, qty=t.amount, fee=t.fee or Decimal(0),
                                 fee_asset=t.fee_currency or "")  # fmt: skip
        items.append({
            "kind": TaxTransaction.Kind.TRADE, "occurred_at": at,
            "asset": record.received_asset, "amount": record.received_amount,
            "given_asset": record.given_asset, "given_amount": record.given_amount,
            "quote": record.quote, "fee": record.fee, "fee_asset": record.fee_asset,
            "wallet": wallet, "exchange_account": account,
            "external_id": f"{account.pk}:{t.symbol}:{t.trade_id}",
            "note": f"{t.side} {t.amount} {t.symbol} @ {t.price}",
        })  # fmt: skip
    created, skipped = _store(user, TaxTransaction.Source.EXCHANGE, items)
    audit_record(actor=user, action="tax.exchange_import", target=account,
                 after={"created": created, "skipped": skipped + already_fills})  # fmt: skip
    return created, skipped + already_fills
