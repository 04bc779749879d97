"""Reads of the trading app, scoped to their owner: an outsider gets 404."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

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


# -- the bot page's charts and trade history -------------------------------------------------
# The market chart shows the bar the bot trades on (the runtime feeds strategies closed 1m
# bars), its fills and, for signal strategies, the indicator lines computed by tradecore over
# the same closes with the bot's own parameters.

BOT_CHART_TIMEFRAME = "1m"
BOT_CHART_BARS = 500


def bot_market_get(*, bot: Bot):
    """The market a bot's chart shows: its first symbol on its first venue."""
    from marketdata.selectors import Market, market_get

    venue = min(bot.venues.all(), key=lambda v: (v.position, v.pk), default=None)
    exchange = venue.exchange if venue is not None else ""
    symbol = bot.symbols[0] if bot.symbols else ""
    try:
        return market_get(exchange=exchange, symbol=symbol)
    except Http404:  # nothing collected yet: an empty chart, not an error
        return Market(exchange, symbol)


def _indicator_config(bot: Bot):
    """The bot's strategy config (its defaults where a saved parameter no longer fits)."""
    from strategies.indicators import indicator_config

    return indicator_config(bot.strategy, bot.params)


def _warmup(bot: Bot, config) -> int:
    """Bars the indicators need before their first value."""
    from strategies.indicators import indicator_warmup

    return indicator_warmup(bot.strategy, config)


def bot_indicator_lines(*, bot: Bot, closes, times: list[int]) -> dict[str, dict]:
    """The indicator lines a signal strategy trades on, by name: {"pane": 0 | 1, "points"}
    (strategies.indicators, shared with the backtest results chart).

    Pane 0 overlays the price; pane 1 is a separate pane under it (RSI, MACD).
    """
    from strategies.indicators import indicator_lines

    return indicator_lines(bot.strategy, bot.params, closes, times)


def _fill_marker(fill: Fill, step_s: int) -> dict:
    at = int(fill.executed_at.timestamp())
    return {
        "id": fill.pk,
        "time": at,
        "bar_time": at - at % step_s,
        "side": fill.side,
        "price": f"{fill.price.normalize():f}",
        "qty": f"{fill.qty.normalize():f}",
    }


def _signal_marker(signal: Signal, step_s: int) -> dict:
    at = int(signal.at.timestamp())
    return {"id": signal.pk, "time": at, "bar_time": at - at % step_s, "kind": signal.kind}


def bot_chart_get(*, user, bot: Bot, bars: int = BOT_CHART_BARS) -> dict:
    """The bot's market chart: the latest `bars` candles of its market, its fills on them and,
    for a signal strategy, its indicator lines and signals. JSON-ready; prices as strings.

    Indicators are computed over extra bars before the window so its first bar has values.
    """
    from marketdata.selectors import MAX_MARKET_CANDLES, candle_json, market_candles
    from marketdata.timeframes import timeframe_ms
    from strategies.selectors import FAMILIES

    market = bot_market_get(bot=bot)
    signal_family = FAMILIES.get(bot.strategy) == "signal"
    warmup = _warmup(bot, _indicator_config(bot)) if signal_family else 0
    loaded = market_candles(
        market=market,
        timeframe=BOT_CHART_TIMEFRAME,
        limit=min(bars + warmup, MAX_MARKET_CANDLES),
    )
    step_s = timeframe_ms(BOT_CHART_TIMEFRAME) // 1000
    shown = loaded[-bars:]
    start = shown[0].ts_ms // 1000 if shown else None
    times = [bar.ts_ms // 1000 for bar in loaded]
    indicators = {}
    if signal_family and loaded:
        closes = [float(bar.close) for bar in loaded]
        indicators = bot_indicator_lines(bot=bot, closes=closes, times=times)
        for line in indicators.values():
            line["points"] = [p for p in line["points"] if p["time"] >= start]
    fills = fill_list(user=user, bot=bot).filter(exchange=market.exchange, symbol=market.symbol)
    signals = signal_list(user=user, bot=bot).filter(symbol__in=["", market.symbol])
    if start is not None:
        fills = fills.filter(executed_at__gte=_utc(start))
        signals = signals.filter(at__gte=_utc(start))
    return {
        "exchange": market.exchange,
        "symbol": market.symbol,
        "timeframe": BOT_CHART_TIMEFRAME,
        "timeframe_seconds": step_s,
        "price_places": market.price_places,
        "signal_strategy": signal_family,
        "candles": [candle_json(bar) for bar in shown],
        "fills": [_fill_marker(f, step_s) for f in list(fills[:MAX_MARKET_CANDLES])[::-1]],
        "signals": (
            [_signal_marker(s, step_s) for s in list(signals[:MAX_MARKET_CANDLES])[::-1]]
            if signal_family
            else []
        ),
        "indicators": indicators,
    }


def _utc(seconds: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, tz=UTC)


def bot_equity_get(*, user, bot: Bot, points: int = 500) -> dict:
    """The bot's equity from its minute snapshots and its drawdown from the running peak, in
    percent (0 at a new high, negative below it), as chart points."""
    from portfolio.selectors import equity_curve

    equity, drawdown, peak = [], [], None
    for at, value in equity_curve(user=user, bot_id=bot.pk, points=points):
        time = int(at.timestamp())
        peak = value if peak is None or value > peak else peak
        equity.append({"time": time, "value": float(value)})
        below = (value - peak) / peak * 100 if peak else 0
        drawdown.append({"time": time, "value": float(below)})
    return {"equity": equity, "drawdown": drawdown}


@dataclass(frozen=True)
class TradeLine:
    """One fill of the bot's trade history with what it realized (FIFO) and cost."""

    fill: Fill
    realized: Decimal  # 0 for a fill that only opened lots
    fee_quote: Decimal | None  # the fee valued in the quote asset, None if not valuable
    closes: bool  # it closed (part of) an earlier position

    @property
    def net(self) -> Decimal:
        return self.realized - (self.fee_quote or Decimal(0))


def bot_trade_list(*, user, bot: Bot, limit: int = 50) -> list[TradeLine]:
    """The bot's latest fills, newest first, each with the PnL it realized by FIFO over all
    the bot's fills (the books portfolio keeps) and its fee in the quote asset."""
    from portfolio.ledger import FifoLedger, LedgerFill, split_symbol

    ledger, lines = FifoLedger(), []
    fills = fill_list(user=user, bot=bot).order_by("executed_at", "id")
    for fill in fills.iterator(chunk_size=2000):
        book = ledger.books.get(fill.symbol)
        open_before = book.position if book is not None else Decimal(0)
        realized = ledger.apply(
            LedgerFill(fill.symbol, fill.side, fill.qty, fill.price, fill.fee, fill.fee_asset)
        )
        base, quote = split_symbol(fill.symbol)
        asset = fill.fee_asset or quote
        fee_quote = fill.fee if asset == quote else fill.fee * fill.price if asset == base else None
        closes = open_before != 0 and (open_before > 0) != (fill.side == "buy")
        lines.append(TradeLine(fill, realized, fee_quote, closes))
        if len(lines) > limit:
            lines.pop(0)
    return lines[::-1]


def _exchange_name(exchange_id: str) -> str:
    import ccxt

    try:
        return getattr(ccxt, exchange_id)().name or exchange_id
    except Exception:  # an id ccxt cannot build offline: its id is its name
        return exchange_id


def paper_exchange_choices(*, selected=()) -> list[tuple[str, str]]:
    """Where a paper bot can trade without an exchange account of the user's: the platform's
    sandbox venues, and the exchanges whose markets are collected (public prices to fill
    against); not every ccxt id. An exchange in `selected` (posted before) stays listed."""
    from exchanges import registry
    from marketdata.models import Instrument

    sandbox = [(venue, f"Peregrine sandbox ({venue})") for venue in registry.sandbox_venues()]
    collected = set(Instrument.objects.values_list("exchange", flat=True).distinct())
    others = sorted(
        (collected | {e for e in selected if registry.is_supported(e)})
        - set(registry.sandbox_venues())
    )
    return sandbox + [(eid, f"{_exchange_name(eid)} — public prices") for eid in others]
