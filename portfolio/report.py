"""Reads for the portfolio page: value and allocation over time, per-bot comparison, fees.

Every read is scoped to its owner and runs a fixed number of queries however many bots the
user has: the curves are cut into buckets in Postgres, the comparison's drawdown and Sharpe are
window aggregates over the minute snapshots, the fees are one aggregate over the fills.

Definitions (the page says them too):
- Return: the bot's value now over its value at its first snapshot, minus one.
- PnL: realized (FIFO) + unrealized - fees, at the latest marks.
- Max drawdown: the largest fall from a running peak of the snapshots' total value, over that
  peak.
- Sharpe: mean over sample standard deviation of the returns between consecutive snapshots,
  times the square root of the number of such periods in a year at the bot's average spacing
  (minute snapshots: sqrt(525,600); crypto trades all year round); risk-free rate 0. One from
  less than a week of snapshots is shown with its span: annualizing a short sample inflates it.
- Win rate: closing trades that realized a gain over all closing trades, from the FIFO ledger.
- Fee cost: a fee paid in the quote asset counts as is, one paid in the base asset at the
  fill's own price; a fee in a third asset (e.g. BNB) is listed, not valued.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Case, Count, DecimalField, F, Sum, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import StrIndex, Substr
from django.utils import timezone

from portfolio.models import BotPerformance
from portfolio.selectors import EQUITY_RANGES, _bots, _latest_rows

YEAR_SECONDS = 365 * 24 * 3600
# a Sharpe annualized from less than this is shown with the span it comes from
SHORT_CURVE = timedelta(days=7)
CHART_POINTS = 300


# --- value and allocation over time ------------------------------------------------------------


@dataclass
class ValueSeries:
    """Total value, cash and crypto summed over the bots, and each bot's own value line."""

    asset: str
    total: list[tuple[datetime, Decimal]]
    cash: list[tuple[datetime, Decimal]]
    crypto: list[tuple[datetime, Decimal]]
    bots: list[tuple[int, str, list[tuple[datetime, Decimal]]]]  # (bot id, name, points)


def portfolio_value_series(
    *, user, range_key: str, asset: str, now: datetime | None = None, points: int = CHART_POINTS
) -> ValueSeries:
    """The user's value over time in `asset`, per bot and summed; ValueError on a bad range.

    The range is cut into at most `points` buckets; a bot counts in a bucket with its last
    snapshot there, or its latest before (a stopped bot still counts with what it was worth).
    Three queries: the bots, their latest rows before the range, one row per bot and bucket.
    """
    if range_key not in EQUITY_RANGES:
        raise ValueError(f"Unknown range {range_key!r}: use one of {', '.join(EQUITY_RANGES)}.")
    now = now or timezone.now()
    names = dict(_bots(user=user).values_list("pk", "name"))
    rows = BotPerformance.objects.filter(bot_id__in=list(names), valuation_asset=asset)
    current: dict[int, tuple[Decimal, Decimal, Decimal]] = {}
    span = EQUITY_RANGES[range_key]
    if span is not None:
        since = now - span
        current = {
            row.bot_id: (row.total_value, row.cash, row.crypto)
            for row in _latest_rows(bot_ids=list(names), before=since).values()
            if row.valuation_asset == asset
        }
        rows = rows.filter(at__gte=since)
    else:
        first = rows.order_by("at").values_list("at", flat=True).first()
        since = first or now
    seconds = max(60, math.ceil((now - since).total_seconds() / max(points, 1)))
    bucket = RawSQL('floor(extract(epoch from "portfolio_botperformance"."at") / %s)', (seconds,))
    picked = (
        rows.annotate(bucket=bucket)
        .order_by("bot_id", "bucket", "-at")
        .distinct("bot_id", "bucket")
        .values_list("bucket", "at", "bot_id", "total_value", "cash", "crypto")
    )
    series = ValueSeries(asset=asset, total=[], cash=[], crypto=[], bots=[])
    per_bot: dict[int, list] = {}
    last_bucket = None
    for number, at, bot_id, value, cash, crypto in sorted(picked, key=lambda r: (r[0], r[1])):
        current[bot_id] = (value, cash, crypto)
        per_bot.setdefault(bot_id, []).append((at, value))
        sums = [sum((line[i] for line in current.values()), Decimal(0)) for i in range(3)]
        if number == last_bucket:  # the bucket's time is that of its newest snapshot
            series.total[-1], series.cash[-1], series.crypto[-1] = (
                (at, sums[0]), (at, sums[1]), (at, sums[2]),
            )  # fmt: skip
        else:
            series.total.append((at, sums[0]))
            series.cash.append((at, sums[1]))
            series.crypto.append((at, sums[2]))
        last_bucket = number
    series.bots = [(pk, names[pk], per_bot[pk]) for pk in names if pk in per_bot]
    return series


# --- per-bot comparison ------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotStats:
    snapshots: int
    first_value: Decimal
    max_drawdown: Decimal  # 0..1
    sharpe: float | None
    span_seconds: float = 0.0  # first to last snapshot


_STATS_SQL = """
SELECT bot_id, count(*), min(at), max(at), max(first_value),
       coalesce(max(CASE WHEN peak > 0 THEN (peak - total_value) / peak END), 0),
       avg(period_return), stddev_samp(period_return), count(period_return)
FROM (
  SELECT bot_id, at, total_value,
         first_value(total_value) OVER w AS first_value,
         max(total_value) OVER w AS peak,
         total_value / nullif(lag(total_value) OVER w, 0) - 1 AS period_return
  FROM portfolio_botperformance
  WHERE bot_id = ANY(%s)
  WINDOW w AS (PARTITION BY bot_id ORDER BY at)
) AS curve
GROUP BY bot_id
"""


def _sharpe(mean, deviation, periods: int, first: datetime, last: datetime) -> float | None:
    """Annualized at the curve's average spacing; None below two returns or with no spread."""
    if periods < 2 or not deviation or last <= first:
        return None
    spacing = (last - first).total_seconds() / periods
    return float(mean) / float(deviation) * math.sqrt(YEAR_SECONDS / spacing)


def bots_snapshot_stats(bot_ids) -> dict[int, SnapshotStats]:
    """Per bot, from all its snapshots: first value, max drawdown and Sharpe (one query)."""
    ids = list(bot_ids)
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_STATS_SQL, [ids])
        rows = cursor.fetchall()
    return {
        bot_id: SnapshotStats(
            snapshots=count,
            first_value=first_value,
            max_drawdown=drawdown,
            sharpe=_sharpe(mean, deviation, periods, first, last),
            span_seconds=(last - first).total_seconds(),
        )
        for bot_id, count, first, last, first_value, drawdown, mean, deviation, periods in rows
    }


@dataclass(frozen=True)
class ComparisonLine:
    """One bot in the comparison table; None where a figure cannot be computed yet."""

    bot: object
    valuation_asset: str
    value: Decimal
    return_pct: Decimal | None
    pnl: Decimal
    max_drawdown_pct: Decimal | None
    sharpe: float | None
    trades: int
    closing_trades: int
    winning_trades: int
    fees: Decimal
    curve_seconds: float | None = None  # how long the snapshots behind drawdown and Sharpe span

    @property
    def short_curve(self) -> str | None:
        """'2 h' when the curve spans less than SHORT_CURVE (its Sharpe is a small sample's)."""
        seconds = self.curve_seconds
        if seconds is None or seconds >= SHORT_CURVE.total_seconds():
            return None
        if seconds < 2 * 3600:
            return f"{max(1, round(seconds / 60))} min"
        if seconds < 2 * 86400:
            return f"{round(seconds / 3600)} h"
        return f"{round(seconds / 86400)} d"

    @property
    def win_rate_pct(self) -> Decimal | None:
        if not self.closing_trades:
            return None
        return Decimal(100) * self.winning_trades / self.closing_trades


# sort key -> (column title, how to read it off a line); "-key" sorts descending
SORT_KEYS = {
    "name": ("Bot", lambda line: line.bot.name.lower()),
    "value": ("Value", lambda line: line.value),
    "return": ("Return", lambda line: line.return_pct),
    "pnl": ("PnL", lambda line: line.pnl),
    "drawdown": ("Max drawdown", lambda line: line.max_drawdown_pct),
    "sharpe": ("Sharpe", lambda line: line.sharpe),
    "trades": ("Trades", lambda line: line.trades),
    "win_rate": ("Win rate", lambda line: line.win_rate_pct),
    "fees": ("Fees", lambda line: line.fees),
}
DEFAULT_SORT = "name"


def sort_key_parse(raw: str | None) -> tuple[str, bool]:
    """('return', True) from '-return'; ValueError naming the valid keys for anything else."""
    raw = (raw or DEFAULT_SORT).strip()
    key, descending = (raw[1:], True) if raw.startswith("-") else (raw, False)
    if key not in SORT_KEYS:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise ValueError(f"Cannot sort by {shown!r}: use one of {', '.join(SORT_KEYS)}.")
    return key, descending


def comparison_sort(lines: list[ComparisonLine], *, key: str, descending: bool) -> list:
    """Sorted by `key`; lines without a figure go last whichever the direction."""
    read = SORT_KEYS[key][1]
    known = [line for line in lines if read(line) is not None]
    unknown = [line for line in lines if read(line) is None]
    known.sort(key=lambda line: (read(line), line.bot.name.lower()), reverse=descending)
    return known + sorted(unknown, key=lambda line: line.bot.name.lower())


def comparison_lines(bots_and_values, *, stats: dict[int, SnapshotStats]) -> list:
    """A comparison line per (bot, BotValuation), with the snapshot statistics given."""
    lines = []
    for bot, value in bots_and_values:
        stat = stats.get(bot.pk)
        first = stat.first_value if stat else None
        lines.append(
            ComparisonLine(
                bot=bot,
                valuation_asset=value.valuation_asset,
                value=value.total_value,
                return_pct=(Decimal(100) * (value.total_value / first - 1)) if first else None,
                pnl=value.net_pnl,
                max_drawdown_pct=Decimal(100) * stat.max_drawdown if stat else None,
                sharpe=stat.sharpe if stat else None,
                trades=value.trades,
                closing_trades=value.closing_trades,
                winning_trades=value.winning_trades,
                fees=value.fees,
                curve_seconds=stat.span_seconds if stat else None,
            )
        )
    return lines


# --- fees and cost by exchange and asset ------------------------------------------------------


@dataclass(frozen=True)
class FeeLine:
    exchange: str
    fee_asset: str
    quote: str
    fills: int
    fees: Decimal  # in fee_asset
    cost: Decimal | None  # in quote; None for a fee in a third asset
    notional: Decimal  # price * qty in quote, of the fills that paid this fee

    @property
    def rate_bp(self) -> Decimal | None:
        if self.cost is None or not self.notional:
            return None
        return Decimal(10000) * self.cost / self.notional


def fee_lines(*, user) -> list[FeeLine]:
    """The user's fees (bots' and by hand) per exchange, fee asset and quote: one query."""
    from trading.models import Fill

    slash = StrIndex("symbol", Value("/"))
    money = DecimalField(max_digits=36, decimal_places=18)
    rows = (
        Fill.objects.filter(user_id=user.pk)
        .exclude(fee=0)
        .annotate(
            base=Substr("symbol", 1, slash - 1),
            quote=RawSQL("split_part(split_part(trading_fill.symbol, '/', 2), ':', 1)", ()),
        )
        .annotate(
            in_quote=Case(
                When(fee_asset=F("quote"), then=F("fee")),
                When(fee_asset="", then=F("fee")),
                When(fee_asset=F("base"), then=F("fee") * F("price")),
                default=None,
                output_field=money,
            )
        )
        .values("exchange", "fee_asset", "quote")
        .annotate(
            fills=Count("id"),
            fees=Sum("fee"),
            cost=Sum("in_quote"),
            notional=Sum(F("price") * F("qty"), output_field=money),
        )
        .order_by("exchange", "fee_asset", "quote")
    )
    return [
        FeeLine(
            exchange=row["exchange"],
            fee_asset=row["fee_asset"] or row["quote"],
            quote=row["quote"],
            fills=row["fills"],
            fees=row["fees"],
            cost=row["cost"],
            notional=row["notional"],
        )
        for row in rows
    ]


def fee_totals(lines: list[FeeLine]) -> dict[tuple[str, str], Decimal]:
    """Per (exchange, quote asset) the fees' total cost (the valued ones)."""
    totals: dict[tuple[str, str], Decimal] = {}
    for line in lines:
        if line.cost is not None:
            key = (line.exchange, line.quote)
            totals[key] = totals.get(key, Decimal(0)) + line.cost
    return dict(sorted(totals.items()))
