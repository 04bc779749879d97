"""Reads of the trading app, scoped to their owner: an outsider gets 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from trading.models import Bot, BotEvent, Fill, KillSwitch, Order, Signal


def _pk(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("Not found.") from None


def bot_list(*, user, status: str | None = None) -> QuerySet[Bot]:
    """The user's bots, by name, with their venues."""
    bots = Bot.objects.filter(user_id=user.pk).prefetch_related("venues__exchange_account")
    if status:
        bots = bots.filter(status=status)
    return bots.order_by("name", "created_at")


def bot_get_for_user(*, user, id) -> Bot:  # noqa: A002
    """One of the user's bots; Http404 for anyone else's or an unknown id."""
    try:
        return bot_list(user=user).get(pk=_pk(id))
    except Bot.DoesNotExist:
        raise Http404("No such bot.") from None


def order_list(*, user, bot: Bot | None = None, active: bool | None = None) -> QuerySet[Order]:
    """The user's orders (one bot's when given), newest first."""
    orders = Order.objects.filter(user_id=user.pk)
    if bot is not None:
        orders = orders.filter(bot_id=bot.pk)
    if active is True:
        orders = orders.filter(status__in=Order.ACTIVE)
    elif active is False:
        orders = orders.exclude(status__in=Order.ACTIVE)
    return orders.order_by("-created_at", "-id")


def order_get_for_user(*, user, id) -> Order:  # noqa: A002
    try:
        return order_list(user=user).get(pk=_pk(id))
    except Order.DoesNotExist:
        raise Http404("No such order.") from None


def fill_list(*, user, bot: Bot | None = None) -> QuerySet[Fill]:
    """The user's fills (one bot's when given), newest first."""
    fills = Fill.objects.filter(user_id=user.pk).select_related("order")
    if bot is not None:
        fills = fills.filter(bot_id=bot.pk)
    return fills.order_by("-executed_at", "-id")


def signal_list(*, user, bot: Bot) -> QuerySet[Signal]:
    """A bot's signals with their indicator values, newest first."""
    return Signal.objects.filter(bot__user_id=user.pk, bot_id=bot.pk).order_by("-at", "-id")


def bot_event_list(*, user, bot: Bot) -> QuerySet[BotEvent]:
    """A bot's history (status changes, restarts, risk breaches), newest first."""
    return BotEvent.objects.filter(bot__user_id=user.pk, bot_id=bot.pk).order_by("-at", "-id")


def kill_switch_engaged_for(*, user) -> KillSwitch | None:
    """The kill switch that stops the user's bots from starting, if one is engaged."""
    from django.db.models import Q

    return (
        KillSwitch.objects.filter(released_at__isnull=True)
        .filter(Q(user__isnull=True) | Q(user_id=user.pk))
        .first()
    )
