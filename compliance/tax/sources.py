"""Where lots come from: the user's bot fills and their tax transactions, merged by time.

Live fills count; paper fills only when the tax year says so. Wallets are named by key:
`account:<id>` for an exchange account, `paper:<bot id>` for a bot's paper venue, or the name
the user typed (a hardware wallet, another exchange).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime

from compliance.tax.normalize import Flow, Trade, trade_from_fill
from compliance.tax_models import TaxTransaction
from exchanges.models import ExchangeAccount
from trading.models import Bot, Fill

FILL_FIELDS = (
    "id", "executed_at", "mode", "exchange", "exchange_account_id", "account_key", "bot_id",
    "symbol", "side", "price", "qty", "fee", "fee_asset",
)  # fmt: skip


def fill_wallet(mode: str, exchange: str, account_id, account_key: str, bot_id) -> str:
    if mode == Bot.Mode.PAPER:
        return f"paper:{bot_id}"
    return f"account:{account_id}" if account_id else f"{exchange}:{account_key}"


def _fills(user, end: datetime, include_paper: bool) -> Iterator[tuple]:
    rows = Fill.objects.filter(user=user, executed_at__lt=end)
    if not include_paper:
        rows = rows.exclude(mode=Bot.Mode.PAPER)
    for row in rows.order_by("executed_at", "id").values_list(*FILL_FIELDS).iterator(5000):
        (pk, at, mode, exchange, account_id, account_key, bot_id, symbol, side, price, qty,
         fee, fee_asset) = row  # fmt: skip
        record = trade_from_fill(
            ref=f"fill:{pk}", at=at, wallet=fill_wallet(mode, exchange, account_id, account_key,
            bot_id), symbol=symbol, side=side, price=price, qty=qty, fee=fee,
            fee_asset=fee_asset,
        )  # fmt: skip
        yield (at, 0, pk, record)


def transaction_record(tx: TaxTransaction) -> Trade | Flow:
    ref = f"tx:{tx.pk}"
    if tx.kind == TaxTransaction.Kind.TRADE:
        return Trade(
            ref, tx.occurred_at, tx.wallet, tx.given_asset, tx.given_amount, tx.asset, tx.amount,
            tx.fee, tx.fee_asset, tx.value_usd, tx.quote,
        )  # fmt: skip
    return Flow(
        ref, tx.occurred_at, tx.kind, tx.asset, tx.amount, tx.wallet, tx.to_wallet, tx.fee,
        tx.value_usd,
    )  # fmt: skip


def _transactions(user, end: datetime) -> Iterator[tuple]:
    rows = TaxTransaction.objects.filter(user=user, occurred_at__lt=end).order_by(
        "occurred_at", "id"
    )
    for tx in rows.iterator(5000):
        yield (tx.occurred_at, 1, tx.pk, transaction_record(tx))


def tax_records(*, user, end: datetime, include_paper: bool = False) -> Iterator[Trade | Flow]:
    """Every record of the user before `end`, in time order (fills before entries on a tie)."""
    merged = heapq.merge(_fills(user, end, include_paper), _transactions(user, end))
    for _, _, _, record in merged:
        yield record


def wallet_labels(*, user) -> dict[str, str]:
    """Readable names for wallet keys: exchange accounts and paper bots of the user."""
    labels = {
        f"account:{a.pk}": f"{a.label} ({a.exchange})"
        for a in ExchangeAccount.objects.filter(user=user)
    }
    labels.update(
        {f"paper:{b.pk}": f"Paper: {b.name}" for b in Bot.objects.filter(user=user).only("name")}
    )
    return labels
