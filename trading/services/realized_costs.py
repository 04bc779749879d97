"""Fee intelligence, write side: aggregate every user's live fills into anonymous costs.

Per (exchange, symbol, liquidity) over the last FEE_INTELLIGENCE_WINDOW_DAYS: distinct users,
fills, notional (price x quantity, quote), the realized fee rate (fees valued in quote: a fee in
the quote asset as is, a fee in the base asset at the fill's price; fees in a third asset such
as BNB cannot be valued here and leave their fill out of the rate) and the notional-weighted
slippage in bp versus the order's reference price (the book's mid when it was decided; buys
pay above it, sells below it, both counted positive).

Only markets with at least k = FEE_INTELLIGENCE_MIN_USERS distinct users are stored, and the
stored rows hold aggregates only; a refresh replaces the whole set, so a market that fell below
k disappears. Paper fills are left out: the simulator charges the published fee and fills at its
own book, so they would only echo the fee schedule back.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from trading.models import RealizedCost
from trading.realized_costs import min_users

DEFAULT_WINDOW_DAYS = 30

# Fee valued in quote, for fills whose fee asset is the quote or the base (or with no fee).
_FEE_QUOTE = """CASE
    WHEN f.fee = 0 THEN 0
    WHEN upper(f.fee_asset) = upper(split_part(f.symbol, '/', 2)) THEN f.fee
    WHEN upper(f.fee_asset) = upper(split_part(f.symbol, '/', 1)) THEN f.fee * f.price
END"""
_HAS_REFERENCE = "o.reference_price > 0"
_SLIPPAGE = (
    "(CASE WHEN f.side = 'buy' THEN f.price - o.reference_price "
    "ELSE o.reference_price - f.price END) / o.reference_price"
)
_AGGREGATE = f"""
SELECT f.exchange, f.symbol, f.liquidity,
       COUNT(DISTINCT f.user_id),
       COUNT(*),
       SUM(f.price * f.qty),
       SUM({_FEE_QUOTE}),
       SUM(CASE WHEN ({_FEE_QUOTE}) IS NOT NULL THEN f.price * f.qty END),
       COUNT({_FEE_QUOTE}),
       SUM(CASE WHEN {_HAS_REFERENCE} THEN f.price * f.qty * {_SLIPPAGE} END),
       SUM(CASE WHEN {_HAS_REFERENCE} THEN f.price * f.qty END),
       COUNT(CASE WHEN {_HAS_REFERENCE} THEN 1 END)
FROM trading_fill f JOIN trading_order o ON o.id = f.order_id
WHERE f.mode = 'live' AND f.executed_at >= %s AND f.executed_at < %s
GROUP BY f.exchange, f.symbol, f.liquidity
HAVING COUNT(DISTINCT f.user_id) >= %s
"""  # noqa: S608 (constant SQL; every value is a parameter)


def window_days() -> int:
    days = int(getattr(settings, "FEE_INTELLIGENCE_WINDOW_DAYS", DEFAULT_WINDOW_DAYS))
    if days < 1:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"FEE_INTELLIGENCE_WINDOW_DAYS: must be at least 1, got {days}")
    return days


def _row(values, start, end, now) -> RealizedCost:
    (exchange, symbol, liquidity, users, fills, notional, fee, fee_notional, fee_fills,
     slip, slip_notional, slip_fills) = values  # fmt: skip
    return RealizedCost(
        exchange=exchange,
        symbol=symbol,
        liquidity=liquidity,
        users=users,
        fills=fills,
        notional=notional,
        fee_rate=round(fee / fee_notional, 12) if fee_notional else None,
        fee_fills=fee_fills,
        slippage_bp=round(slip / slip_notional * 10000, 6) if slip_notional else None,
        slippage_fills=slip_fills,
        window_start=start,
        window_end=end,
        computed_at=now,
    )


def realized_costs_refresh(*, now=None) -> dict:
    """Recompute every market's anonymous realized costs over the window; replace the set."""
    now = now or timezone.now()
    start, k = now - timedelta(days=window_days()), min_users()
    with connection.cursor() as cursor:
        cursor.execute(_AGGREGATE, [start, now, k])
        rows = [_row(values, start, now, now) for values in cursor.fetchall()]
    with transaction.atomic():
        RealizedCost.objects.all().delete()
        RealizedCost.objects.bulk_create(rows)
    return {"markets": len(rows), "min_users": k}
