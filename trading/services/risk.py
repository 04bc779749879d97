"""Risk sweep and kill switches.

The sweep (beat, every 5 s) values every trading bot as the portfolio pages do
(portfolio.valuation): starting funds (paper) or the budget (live) plus every booked fill, at
the latest marks. Per bot it checks exposure (when `max_exposure_fraction` is set), drawdown from
the peak and the day's loss; per user the same over all their trading bots. A breach pauses or
kills the bot(s), as configured, and tells the owner.

Kill switches: one per user and one global (operators, in the admin) cancel every order and
stop every bot they cover; while engaged, no bot they cover may start.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portfolio.valuation import STABLECOINS, bots_valuation
from trading.events import bot_event_publish, bot_owner_notify
from trading.models import Bot, BotEvent, KillSwitch, Order, UserRiskLimits
from trading.services.bots import bot_kill, bot_pause

logger = logging.getLogger(__name__)
S = Bot.Status
SWEPT = (S.STARTING, S.RUNNING)
ZERO = Decimal(0)


@dataclass
class Valuation:
    """A bot's (or user's) value at the latest marks."""

    equity: Decimal = ZERO
    exposure: Decimal = ZERO
    holdings: dict[str, Decimal] = field(default_factory=dict)
    unpriced: list[str] = field(default_factory=list)


# -- breaches --------------------------------------------------------------------------------
def bot_risk_breach(*, bot_id: int, rule: str, message: str) -> str:
    """Act on a breach of one bot's limit: pause or kill as the bot is configured."""
    bot = Bot.objects.select_related("user").get(pk=bot_id)
    text = f"Risk limit {rule}: {message}"
    with transaction.atomic():
        BotEvent.objects.create(bot=bot, kind="risk", message=text, data={"rule": rule})
        bot_event_publish(
            bot=bot, kind="risk", data={"rule": rule, "message": message, "action": bot.on_breach}
        )
        bot_owner_notify(
            bot=bot,
            event="risk_breach",
            title=f"{bot.name}: risk limit {rule} breached",
            body=f"Bot {bot.name}: {message}. The bot was {bot.on_breach}ed.",
            dedupe_key=f"risk:{bot.pk}:{rule}:{timezone.now():%Y%m%d%H}",
        )
    if bot.on_breach == Bot.OnBreach.KILL:
        bot_kill(bot=bot, reason=text)
        return "killed"
    if bot.status in (S.STARTING, S.RUNNING):
        bot_pause(bot=bot, reason=text)
        return "paused"
    return "none"


# -- valuation -------------------------------------------------------------------------------
def bots_value(bots: list[Bot]) -> dict[int, Valuation]:
    """Value each bot at the latest marks: the portfolio's valuation, the sweep's view of it.

    One computation for the risk sweep and the portfolio pages (portfolio.valuation): holdings
    from starting funds and every booked fill (a fee without an asset is taken from the quote),
    marks from the collectors, else the bot's last fill price. Exposure is the value of what is
    not cash; what has neither mark nor fill price is listed unpriced (and not judged).
    """
    valued = bots_valuation(bots)
    out = {}
    for bot in bots:
        valuation = valued[bot.pk]
        value = Valuation(equity=valuation.total_value)
        for line in valuation.holdings:
            value.holdings[f"{line.exchange}:{line.asset}"] = line.total
            if line.value is None:
                value.unpriced.append(f"{line.exchange}:{line.asset}")
            elif line.asset != valuation.valuation_asset and line.asset not in STABLECOINS:
                value.exposure += abs(line.value)
        out[bot.pk] = value
    return out


# -- the sweep -------------------------------------------------------------------------------
def _limit(bot: Bot, name: str) -> Decimal | None:
    value = (bot.risk_limits or {}).get(name)
    return None if value in (None, "") else Decimal(str(value))


def _bot_breach(bot: Bot, value: Valuation) -> tuple[str, str] | None:
    exposure_fraction = _limit(bot, "max_exposure_fraction")
    if exposure_fraction is not None and value.exposure > bot.budget * exposure_fraction:
        cap = bot.budget * exposure_fraction
        return "exposure", f"exposure {value.exposure:.2f} is above {cap:.2f}"
    drawdown = _limit(bot, "max_drawdown_fraction")
    if drawdown is not None and bot.peak_equity and bot.peak_equity > 0:
        fallen = (bot.peak_equity - value.equity) / bot.peak_equity
        if fallen >= drawdown:
            return "drawdown", f"equity {value.equity:.2f} is {fallen:.2%} below its peak"
    daily = _limit(bot, "daily_loss_limit")
    if daily is not None and bot.day_start_equity is not None:
        loss = bot.day_start_equity - value.equity
        if loss >= daily:
            return "daily_loss", f"lost {loss:.2f} today (limit {daily})"
    return None


def _track(holder, equity: Decimal, today) -> None:
    """Update the peak and the day's starting equity (a bot or a user's limits row)."""
    if holder.peak_equity is None or equity > holder.peak_equity:
        holder.peak_equity = equity
    if holder.risk_day != today or holder.day_start_equity is None:
        holder.risk_day, holder.day_start_equity = today, equity


def risk_sweep() -> dict[str, list]:
    """Check every trading bot and every user with limits; act on each breach."""
    today = timezone.now().date()
    bots = list(
        Bot.objects.filter(status__in=SWEPT).select_related("user").prefetch_related("venues")
    )
    values = bots_value(bots)
    breaches: list[tuple[int, str, str]] = []
    for bot in bots:
        value = values[bot.pk]
        if value.unpriced:  # no mark for something it holds: its value would be made up
            logger.info("risk sweep: bot %s has no mark for %s", bot.pk, value.unpriced)
            continue
        _track(bot, value.equity, today)  # a new day starts from its first equity
        found = _bot_breach(bot, value)
        if found:
            breaches.append((bot.pk, *found))
    Bot.objects.bulk_update(bots, ["peak_equity", "day_start_equity", "risk_day"])
    user_breaches = _user_sweep(bots, values, today)
    acted = []
    for bot_id, rule, message in breaches + user_breaches:
        acted.append((bot_id, rule, bot_risk_breach(bot_id=bot_id, rule=rule, message=message)))
    return {"checked": [b.pk for b in bots], "breaches": acted}


def _user_sweep(bots: list[Bot], values: dict[int, Valuation], today) -> list:
    by_user: dict[int, list[Bot]] = defaultdict(list)
    for bot in bots:
        by_user[bot.user_id].append(bot)
    limits = UserRiskLimits.objects.filter(user_id__in=list(by_user))
    breaches = []
    for row in limits:
        user_bots = by_user[row.user_id]
        if any(values[b.pk].unpriced for b in user_bots):
            continue
        equity = sum((values[b.pk].equity for b in user_bots), ZERO)
        exposure = sum((values[b.pk].exposure for b in user_bots), ZERO)
        _track(row, equity, today)
        found = None
        if row.max_exposure is not None and exposure > row.max_exposure:
            found = ("user_exposure", f"all bots' exposure {exposure:.2f} > {row.max_exposure}")
        elif row.max_drawdown_fraction is not None and row.peak_equity:
            fallen = (row.peak_equity - equity) / row.peak_equity
            if fallen >= row.max_drawdown_fraction:
                found = ("user_drawdown", f"all bots' equity {fallen:.2%} below peak")
        elif row.daily_loss_limit is not None and row.day_start_equity is not None:
            loss = row.day_start_equity - equity
            if loss >= row.daily_loss_limit:
                found = ("user_daily_loss", f"all bots lost {loss:.2f} today")
        row.save(update_fields=["peak_equity", "day_start_equity", "risk_day"])
        if found:
            for bot in user_bots:
                bot.on_breach = row.on_breach
                Bot.objects.filter(pk=bot.pk).update(on_breach=row.on_breach)
                breaches.append((bot.pk, *found))
    return breaches


# -- kill switches ---------------------------------------------------------------------------
def kill_switch_engage(*, reason: str, user=None, actor=None) -> KillSwitch:
    """Cancel every order and stop every bot of `user` (everyone's when None); stay engaged."""
    reason = (reason or "Kill switch.").strip()[:500]
    switch = KillSwitch.objects.create(user=user, reason=reason, engaged_by=actor)
    bots = Bot.objects.select_related("user")
    if user is not None:
        bots = bots.filter(user_id=user.pk)
    active_orders = Order.objects.filter(status__in=Order.ACTIVE).values("bot_id")
    bots = bots.filter(~Q(status=S.STOPPED) | Q(pk__in=active_orders))
    stopped = cancelled = 0
    scope = "everyone" if user is None else "user"
    for bot in bots:
        try:
            cancelled += bot_kill(bot=bot, reason=f"kill switch: {reason}", actor=actor)
            stopped += 1
        except Exception:  # one bot's exchange failing must not spare the others
            logger.exception("kill switch: bot %s could not be killed cleanly", bot.pk)
        with transaction.atomic():
            bot_event_publish(bot=bot, kind="kill_switch", data={"reason": reason, "scope": scope})
            bot_owner_notify(
                bot=bot,
                event="kill_switch",
                title="Kill switch engaged",
                body=f"A kill switch stopped your bot {bot.name}: {reason}",
                dedupe_key=f"kill:{switch.pk}:{bot.user_id}",
            )
    switch.bots_stopped, switch.orders_cancelled = stopped, cancelled
    switch.save(update_fields=["bots_stopped", "orders_cancelled"])
    return switch


def kill_switch_release(*, switch: KillSwitch, actor=None) -> KillSwitch:
    """Let bots start again (stopped bots stay stopped until their owners start them)."""
    if switch.released_at is None:
        switch.released_at, switch.released_by = timezone.now(), actor
        switch.save(update_fields=["released_at", "released_by"])
    return switch
