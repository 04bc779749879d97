"""Reads of the portfolio, scoped to their owner: an outsider gets 404."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Min, OuterRef, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone

from portfolio.models import BotPerformance, ExchangeBalance
from portfolio.valuation import BotValuation, bots_valuation


def _bots(*, user) -> QuerySet:
    from trading.models import Bot

    return Bot.objects.filter(user_id=user.pk).prefetch_related("venues").order_by("name", "pk")


def portfolio_bot_get_for_user(*, user, bot_id):
    """One of the user's bots (with its venues); Http404 for anyone else's or an unknown id."""
    try:
        return _bots(user=user).get(pk=int(bot_id))
    except (ValueError, TypeError):
        raise Http404("No such bot.") from None
    except _bots(user=user).model.DoesNotExist:
        raise Http404("No such bot.") from None


def bot_valuation_get(*, user, bot_id) -> BotValuation:
    """One of the user's bots valued now: holdings, positions, FIFO PnL, fees; 404 otherwise."""
    bot = portfolio_bot_get_for_user(user=user, bot_id=bot_id)
    return bots_valuation([bot])[bot.pk]


def bot_performance_list(
    *, user, bot_id, since: datetime | None = None
) -> QuerySet[BotPerformance]:
    """The bot's performance rows, oldest first (the equity curve); 404 for another's bot."""
    bot = portfolio_bot_get_for_user(user=user, bot_id=bot_id)
    rows = BotPerformance.objects.filter(bot_id=bot.pk)
    if since is not None:
        rows = rows.filter(at__gte=since)
    return rows.order_by("at")


def equity_curve(*, user, bot_id, since: datetime | None = None, points: int = 500):
    """At most `points` (time, total value) pairs, evenly thinned, last point always kept."""
    rows = list(
        bot_performance_list(user=user, bot_id=bot_id, since=since).values_list("at", "total_value")
    )
    if len(rows) <= points:
        return rows
    step = len(rows) / points
    thinned = [rows[int(i * step)] for i in range(points - 1)]
    return [*thinned, rows[-1]]


def exchange_balance_list(*, user) -> QuerySet[ExchangeBalance]:
    """The balances of the user's exchange accounts, as last fetched from the exchanges."""
    return (
        ExchangeBalance.objects.filter(account__user_id=user.pk)
        .select_related("account")
        .order_by("account__label", "asset")
    )


@dataclass
class PortfolioSummary:
    bots: list[tuple] = field(default_factory=list)  # (bot, BotValuation)
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # per valuation asset
    fees_by_asset: dict[str, Decimal] = field(default_factory=dict)
    balances: list[ExchangeBalance] = field(default_factory=list)


def portfolio_summary(*, user) -> PortfolioSummary:
    """Every bot of the user valued now, totals per valuation asset, fees, exchange balances."""
    bots = list(_bots(user=user))
    values = bots_valuation(bots)
    summary = PortfolioSummary(balances=list(exchange_balance_list(user=user)))
    for bot in bots:
        value = values[bot.pk]
        summary.bots.append((bot, value))
        total = summary.totals.setdefault(
            value.valuation_asset,
            {key: Decimal(0) for key in ("value", "realized", "unrealized", "fees", "net")},
        )
        total["value"] += value.total_value
        total["realized"] += value.realized_pnl
        total["unrealized"] += value.unrealized_pnl
        total["fees"] += value.fees
        total["net"] += value.net_pnl
        for asset, amount in value.fees_by_asset.items():
            summary.fees_by_asset[asset] = summary.fees_by_asset.get(asset, Decimal(0)) + amount
    summary.fees_by_asset = dict(sorted(summary.fees_by_asset.items()))
    return summary


@dataclass(frozen=True)
class DayLine:
    """One bot's day from its performance rows: value at the end and what changed."""

    bot_id: int
    name: str
    status: str
    valuation_asset: str
    value: Decimal
    change: Decimal
    realized: Decimal
    fees: Decimal
    trades: int
    winning_trades: int


def daily_lines(*, user, start: datetime, end: datetime) -> list[DayLine]:
    """Per bot of the user with performance in [start, end): the day's change, from its rows."""
    lines = []
    for bot in _bots(user=user):
        rows = BotPerformance.objects.filter(bot_id=bot.pk)
        last = rows.filter(at__lt=end).order_by("-at").first()
        if last is None or last.at < start:
            continue
        first = rows.filter(at__lt=start).order_by("-at").first() or (
            rows.filter(at__gte=start).order_by("at").first()
        )
        lines.append(
            DayLine(
                bot_id=bot.pk,
                name=bot.name,
                status=bot.status,
                valuation_asset=last.valuation_asset,
                value=last.total_value,
                change=last.total_value - first.total_value,
                realized=last.realized_pnl - first.realized_pnl,
                fees=last.fees - first.fees,
                trades=last.trades - first.trades,
                winning_trades=last.winning_trades - first.winning_trades,
            )
        )
    return lines


# --- the dashboard (issue 10): everything from the minute snapshots, in a constant number of
# queries however many bots the user has; no fill is replayed per request.

EQUITY_RANGES = {"1d": timedelta(days=1), "1w": timedelta(days=7), "all": None}
ALERT_WINDOW = timedelta(hours=24)


def _row_per_bot(*, bot_ids, rows: QuerySet, order: str) -> dict[int, BotPerformance]:
    """Per bot, the first of `rows` in `order`: one query, one index probe per bot.

    (DISTINCT ON would read every snapshot of the bots; a correlated subquery per bot walks
    the (bot, -at) index to the one row wanted.)
    """
    from trading.models import Bot

    first = rows.filter(bot_id=OuterRef("pk")).order_by(order).values("pk")[:1]
    wanted = Bot.objects.filter(pk__in=list(bot_ids)).annotate(row=Subquery(first)).values("row")
    return {row.bot_id: row for row in BotPerformance.objects.filter(pk__in=wanted)}


def _latest_rows(*, bot_ids, before: datetime | None = None) -> dict[int, BotPerformance]:
    """Per bot, its newest performance row (before `before` when given): one query."""
    rows = BotPerformance.objects.all()
    if before is not None:
        rows = rows.filter(at__lt=before)
    return _row_per_bot(bot_ids=bot_ids, rows=rows, order="-at")


def _first_rows(*, bot_ids, since: datetime) -> dict[int, BotPerformance]:
    """Per bot, its oldest performance row at or after `since`: one query."""
    return _row_per_bot(
        bot_ids=bot_ids, rows=BotPerformance.objects.filter(at__gte=since), order="at"
    )


@dataclass(frozen=True)
class DashboardBot:
    """A bot on the dashboard: its latest snapshot (None before the first) and today's change."""

    bot: object
    latest: BotPerformance | None
    day_change: Decimal | None

    @property
    def net_pnl(self) -> Decimal | None:
        latest = self.latest
        if latest is None:
            return None
        return latest.realized_pnl + latest.unrealized_pnl - latest.fees


@dataclass(frozen=True)
class ExposureLine:
    asset: str
    amount: Decimal
    value: Decimal | None  # in the valuation asset; None when no price is known
    share: Decimal | None  # of the priced total, 0..1


@dataclass(frozen=True)
class Alert:
    level: str  # "error" or "warning"
    title: str
    message: str
    at: datetime | None
    bot: object | None = None


@dataclass
class Dashboard:
    bots: list[DashboardBot] = field(default_factory=list)
    # per valuation asset: value, day_pnl, net (realized + unrealized - fees)
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    exposure: dict[str, list[ExposureLine]] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    as_of: datetime | None = None
    # the user's exchange accounts, per asset, as last fetched: shown apart from the bots'
    # totals (a live bot's funds sit in these accounts; adding both would count them twice)
    account_balances: dict[str, Decimal] = field(default_factory=dict)

    @property
    def main_asset(self) -> str:
        """The valuation asset holding the most value (the equity chart's), USDT by default."""
        if not self.totals:
            return "USDT"
        return max(self.totals.items(), key=lambda item: item[1]["value"])[0]


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _dashboard_bots(bots, *, now: datetime) -> list[DashboardBot]:
    ids = [bot.pk for bot in bots]
    start = _day_start(now)
    latest = _latest_rows(bot_ids=ids)
    baseline = _latest_rows(bot_ids=ids, before=start)
    missing = [bot_id for bot_id in latest if bot_id not in baseline]
    if missing:  # started today: the day counts from its first snapshot
        baseline.update(_first_rows(bot_ids=missing, since=start))
    lines = []
    for bot in bots:
        row, base = latest.get(bot.pk), baseline.get(bot.pk)
        change = None if row is None or base is None else row.total_value - base.total_value
        lines.append(DashboardBot(bot=bot, latest=row, day_change=change))
    return lines


def _dashboard_totals(lines: list[DashboardBot]) -> dict[str, dict[str, Decimal]]:
    totals: dict[str, dict[str, Decimal]] = {}
    for line in lines:
        if line.latest is None:
            continue
        total = totals.setdefault(
            line.latest.valuation_asset, {key: Decimal(0) for key in ("value", "day_pnl", "net")}
        )
        total["value"] += line.latest.total_value
        total["day_pnl"] += line.day_change or Decimal(0)
        total["net"] += line.net_pnl
    return totals


def _last_fill_prices(*, bot_ids, symbols) -> dict[str, Decimal]:
    """The last fill price of each of `symbols` over the bots' fills (where no mark is live)."""
    from trading.models import Fill

    if not symbols:
        return {}
    rows = (
        Fill.objects.filter(bot_id__in=bot_ids, symbol__in=sorted(symbols))
        .order_by("symbol", "-executed_at", "-id")
        .distinct("symbol")
        .values_list("symbol", "price")
    )
    return dict(rows)


def _dashboard_exposure(bots) -> dict[str, list[ExposureLine]]:
    """Holdings summed per asset over the bots, valued in each bot's valuation asset."""
    from portfolio.marks import latest_marks
    from portfolio.valuation import STABLECOINS, bots_holdings, valuation_asset

    held = bots_holdings(bots)
    amounts: dict[tuple[str, str], Decimal] = {}  # (valuation asset, asset) -> amount
    pairs = set()
    for bot in bots:
        target = valuation_asset(bot.symbols)
        for (exchange, asset), amount in held[bot.pk].items():
            if amount:
                amounts[(target, asset)] = amounts.get((target, asset), Decimal(0)) + amount
                pairs.add((exchange, f"{asset}/{target}"))
    marks: dict[str, Decimal] = {}
    for (_, symbol), mark in latest_marks(pairs).items():
        marks.setdefault(symbol, mark)
    unmarked = {f"{asset}/{target}" for target, asset in amounts if asset != target}
    last_prices = _last_fill_prices(bot_ids=[bot.pk for bot in bots], symbols=unmarked - set(marks))
    exposure: dict[str, list[ExposureLine]] = {}
    for (target, asset), amount in sorted(amounts.items()):
        symbol = f"{asset}/{target}"
        price = Decimal(1) if asset == target else marks.get(symbol) or last_prices.get(symbol)
        if price is None and asset in STABLECOINS and target in STABLECOINS:
            price = Decimal(1)
        value = None if price is None else amount * price
        exposure.setdefault(target, []).append(ExposureLine(asset, amount, value, None))
    for target, lines in exposure.items():
        priced = sum((line.value for line in lines if line.value is not None), Decimal(0))
        exposure[target] = sorted(
            (
                ExposureLine(
                    line.asset,
                    line.amount,
                    line.value,
                    None if line.value is None or not priced else line.value / priced,
                )
                for line in lines
            ),
            key=lambda line: -(line.value if line.value is not None else Decimal(0)),
        )
    return exposure


def _dashboard_alerts(*, user, bots, now: datetime) -> list[Alert]:
    """Bots in error, an engaged kill switch, risk breaches of the last 24 hours: two queries."""
    from trading.models import Bot, BotEvent
    from trading.selectors import kill_switch_engaged_for

    alerts = []
    switch = kill_switch_engaged_for(user=user)
    if switch is not None:
        scope = "on your account" if switch.user_id else "for everyone"
        alerts.append(
            Alert("error", f"Kill switch engaged {scope}", switch.reason, switch.engaged_at)
        )
    for bot in bots:
        if bot.status == Bot.Status.ERROR:
            reason = bot.status_reason or "The bot stopped on an error."
            alerts.append(
                Alert("error", f"{bot.name} is in error", reason, bot.status_changed_at, bot)
            )
    by_id = {bot.pk: bot for bot in bots}
    breaches = BotEvent.objects.filter(
        bot_id__in=list(by_id), kind="risk", at__gte=now - ALERT_WINDOW
    ).order_by("-at", "-id")[:10]
    for event in breaches:
        bot = by_id[event.bot_id]
        alerts.append(
            Alert("warning", f"Risk limit hit by {bot.name}", event.message, event.at, bot)
        )
    return alerts


def _account_balances(*, user) -> dict[str, Decimal]:
    """Per asset, the total over the user's exchange accounts as last fetched: one query."""
    from django.db.models import Sum

    rows = (
        ExchangeBalance.objects.filter(account__user_id=user.pk)
        .values("asset")
        .annotate(total=Sum("total"))
        .order_by("asset")
    )
    return {row["asset"]: row["total"] for row in rows if row["total"]}


def dashboard_get(*, user, now: datetime | None = None) -> Dashboard:
    """The signed-in home page: totals, today's PnL, exposure, bots and alerts of the user."""
    now = now or timezone.now()
    bots = list(_bots(user=user))
    lines = _dashboard_bots(bots, now=now)
    return Dashboard(
        bots=lines,
        totals=_dashboard_totals(lines),
        exposure=_dashboard_exposure(bots) if bots else {},
        alerts=_dashboard_alerts(user=user, bots=bots, now=now),
        account_balances=_account_balances(user=user),
        as_of=max((line.latest.at for line in lines if line.latest), default=None),
    )


def portfolio_equity_series(
    *, user, range_key: str, asset: str, now: datetime | None = None, points: int = 500
) -> list[tuple[datetime, Decimal]]:
    """The user's total value over time in `asset`, summed over bots; ValueError on a bad range.

    The range is cut into at most `points` buckets and each bot counts with its last snapshot in
    a bucket, or its latest before (so a bot that stopped still counts with what it was worth):
    Postgres picks one row per bot and bucket, Python only adds up those.
    """
    if range_key not in EQUITY_RANGES:
        raise ValueError(f"Unknown range {range_key!r}: use one of {', '.join(EQUITY_RANGES)}.")
    now = now or timezone.now()
    span = EQUITY_RANGES[range_key]
    ids = list(_bots(user=user).values_list("pk", flat=True))
    rows = BotPerformance.objects.filter(bot_id__in=ids, valuation_asset=asset)
    current: dict[int, Decimal] = {}
    if span is not None:
        since = now - span
        current = {
            row.bot_id: row.total_value
            for row in _latest_rows(bot_ids=ids, before=since).values()
            if row.valuation_asset == asset
        }
        rows = rows.filter(at__gte=since)
    else:
        since = rows.aggregate(first=Min("at"))["first"] or now
    seconds = max(60, math.ceil((now - since).total_seconds() / max(points, 1)))
    bucket = RawSQL('floor(extract(epoch from "portfolio_botperformance"."at") / %s)', (seconds,))
    picked = (
        rows.annotate(bucket=bucket)
        .order_by("bot_id", "bucket", "-at")
        .distinct("bot_id", "bucket")
        .values_list("bucket", "at", "bot_id", "total_value")
    )
    series: list[tuple[datetime, Decimal]] = []
    last_bucket = None
    for number, at, bot_id, value in sorted(picked, key=lambda row: (row[0], row[1])):
        current[bot_id] = value
        total = sum(current.values(), Decimal(0))
        if number == last_bucket:
            series[-1] = (at, total)  # the bucket's time is that of its newest snapshot
        else:
            series.append((at, total))
        last_bucket = number
    return series


@dataclass(frozen=True)
class FeedLine:
    """One line of the dashboard's event feed (the page's JavaScript writes the same shape)."""

    at: datetime
    bot_id: int
    bot_name: str
    kind: str
    text: str


FEED_LENGTH = 50


def _fill_text(fill) -> str:
    verb = "Bought" if fill.side == "buy" else "Sold"
    qty, price = f"{fill.qty.normalize():f}", f"{fill.price.normalize():f}"
    return f"{verb} {qty} {fill.symbol} at {price} on {fill.exchange}"


def _event_text(event) -> str:
    data = event.data or {}
    if event.kind == "status" and data.get("status"):
        change = f"{data.get('previous') or '?'} \u2192 {data['status']}"
        return f"Status {change}: {event.message}" if event.message else f"Status {change}"
    return event.message or event.kind.replace("_", " ").capitalize()


def dashboard_feed(*, user, limit: int = FEED_LENGTH) -> list[FeedLine]:
    """The newest fills and bot events of the user's bots, newest first: two queries."""
    from trading.models import BotEvent, Fill

    events = (
        BotEvent.objects.filter(bot__user_id=user.pk)
        .exclude(kind="updated")
        .select_related("bot")
        .order_by("-at", "-id")[:limit]
    )
    fills = (
        Fill.objects.filter(user_id=user.pk).select_related("bot").order_by("-executed_at", "-id")
    )
    lines = [FeedLine(e.at, e.bot_id, e.bot.name, e.kind, _event_text(e)) for e in events]
    lines += [
        FeedLine(f.executed_at, f.bot_id, f.bot.name, "fill", _fill_text(f)) for f in fills[:limit]
    ]
    return sorted(lines, key=lambda line: line.at, reverse=True)[:limit]
