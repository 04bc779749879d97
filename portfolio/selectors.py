"""Reads of the portfolio, scoped to their owner: an outsider gets 404."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.http import Http404

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
