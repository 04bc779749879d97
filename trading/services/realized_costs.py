"""Fee intelligence, write side: aggregate every user's live fills into anonymous costs.

Per (exchange, symbol, liquidity) over the last FEE_INTELLIGENCE_WINDOW_DAYS: distinct users,
fills, notional (price x quantity, quote), the realized fee rate (fees valued in quote: a fee in
the quote asset as is, a fee in the base asset at the fill's price; fees in a third asset such
as BNB cannot be valued here and leave their fill out of the rate) and the notional-weighted
slippage in bp versus the order's reference price (the book's mid when it was decided; buys
pay above it, sells below it, both counted positive).

Only markets with at least k = FEE_INTELLIGENCE_MIN_USERS distinct users, none of whom makes up
more than MAX_USER_SHARE of the notional, are stored; the fee rate and the slippage are each
held to the same rule over the fills they are measured on (a slippage that only one user's
orders could measure is left empty). The stored rows hold aggregates only; a refresh replaces
the whole set, so a market that fell below the rule disappears. Paper fills are left out: the
simulator charges the published fee and fills at its own book, so they would only echo the fee
schedule back.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from trading.models import RealizedCost
from trading.realized_costs import min_users

DEFAULT_WINDOW_DAYS = 30
# The largest user's part of a figure's notional above which the figure is suppressed: with
# one trader dominating, five users' "aggregate" would be that trader's own fee tier.
MAX_USER_SHARE = Decimal("0.5")

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
# One row per user and market first, so that every figure can be held to the rule: a figure
# is published only when k users contribute to it and none of them makes up more than
# MAX_USER_SHARE of its notional (else the "aggregate" is one user's own rate).
_AGGREGATE = f"""
WITH per_user AS (
    SELECT f.exchange, f.symbol, f.liquidity, f.user_id,
           COUNT(*) AS fills,
           SUM(f.price * f.qty) AS notional,
           SUM({_FEE_QUOTE}) AS fee,
           SUM(CASE WHEN ({_FEE_QUOTE}) IS NOT NULL THEN f.price * f.qty END) AS fee_notional,
           COUNT({_FEE_QUOTE}) AS fee_fills,
           SUM(CASE WHEN {_HAS_REFERENCE} THEN f.price * f.qty * {_SLIPPAGE} END) AS slip,
           SUM(CASE WHEN {_HAS_REFERENCE} THEN f.price * f.qty END) AS slip_notional,
           COUNT(CASE WHEN {_HAS_REFERENCE} THEN 1 END) AS slip_fills
    FROM trading_fill f JOIN trading_order o ON o.id = f.order_id
    WHERE f.mode = 'live' AND f.executed_at >= %s AND f.executed_at < %s
    GROUP BY f.exchange, f.symbol, f.liquidity, f.user_id
)
SELECT exchange, symbol, liquidity,
       COUNT(*), SUM(fills), SUM(notional), MAX(notional) / NULLIF(SUM(notional), 0),
       SUM(fee), SUM(fee_notional), SUM(fee_fills), COUNT(fee_notional),
       MAX(fee_notional) / NULLIF(SUM(fee_notional), 0),
       SUM(slip), SUM(slip_notional), SUM(slip_fills), COUNT(slip_notional),
       MAX(slip_notional) / NULLIF(SUM(slip_notional), 0)
FROM per_user
GROUP BY exchange, symbol, liquidity
HAVING COUNT(*) >= %s
"""  # noqa: S608 (constant SQL; every value is a parameter)


def window_days() -> int:
    days = int(getattr(settings, "FEE_INTELLIGENCE_WINDOW_DAYS", DEFAULT_WINDOW_DAYS))
    if days < 1:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"FEE_INTELLIGENCE_WINDOW_DAYS: must be at least 1, got {days}")
    return days


def _published(users: int, top_share, k: int) -> bool:
    return users >= k and top_share is not None and top_share <= MAX_USER_SHARE


def _row(values, start, end, k: int) -> RealizedCost | None:
    (exchange, symbol, liquidity, users, fills, notional, top,
     fee, fee_notional, fee_fills, fee_users, fee_top,
     slip, slip_notional, slip_fills, slip_users, slip_top) = values  # fmt: skip
    if not _published(users, top, k):
        return None
    fee_ok = _published(fee_users, fee_top, k) and fee_notional
    slip_ok = _published(slip_users, slip_top, k) and slip_notional
    return RealizedCost(
        exchange=exchange,
        symbol=symbol,
        liquidity=liquidity,
        users=users,
        fills=fills,
        notional=notional,
        fee_rate=round(fee / fee_notional, 12) if fee_ok else None,
        fee_fills=fee_fills if fee_ok else 0,
        slippage_bp=round(slip / slip_notional * 10000, 6) if slip_ok else None,
        slippage_fills=slip_fills if slip_ok else 0,
        window_start=start,
        window_end=end,
        computed_at=end,
    )


def realized_costs_refresh(*, now=None) -> dict:
    """Recompute every market's anonymous realized costs over the window; replace the set."""
    now = now or timezone.now()
    start, k = now - timedelta(days=window_days()), min_users()
    with connection.cursor() as cursor:
        cursor.execute(_AGGREGATE, [start, now, k])
        rows = [r for values in cursor.fetchall() if (r := _row(values, start, now, k))]
    with transaction.atomic():
        RealizedCost.objects.all().delete()
        RealizedCost.objects.bulk_create(rows)
    return {"markets": len(rows), "min_users": k}
