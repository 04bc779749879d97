"""Compare with paper: the backtest of a bot's strategy over the bot's own period, next to what
the bot actually did (its fills), with the difference in PnL and its causes.

Both sides are valued the same way: the quote spent and received by their fills, less fees,
plus the position still held at the period's last close. The difference (bot minus backtest)
is split into
- fees: the bot paid more (or less) in fees than the backtest charged;
- slippage: on fills both made (same side within two bars), the bot's price against the
  backtest's, times the bot's quantity;
- missed and extra fills: the rest — trades the backtest made that the bot did not (or the
  other way round), and their different sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
from django.core.exceptions import ValidationError

from marketdata.services.candles import dt_to_ms
from marketdata.timeframes import TIMEFRAMES_MS
from strategies.indicators import indicator_warmup
from strategies.selectors import FAMILIES, backtest_candles, instrument_steps
from tradecore.backtest.runner import run_candles
from tradecore.domain import Instrument
from tradecore.strategies import REGISTRY, validate_config

TIMEFRAME = "1m"
MATCH_BARS = 2  # a bot fill within this many bars of a backtest fill, same side, is the same
_STEP = Decimal("0.00000001")


@dataclass(frozen=True)
class _Fill:
    ts: int
    side: str
    price: float
    qty: float
    fee: float


def _value(fills: list[_Fill], last_close: float) -> dict:
    spent = sum(f.price * f.qty for f in fills if f.side == "buy")
    received = sum(f.price * f.qty for f in fills if f.side == "sell")
    held = sum(f.qty if f.side == "buy" else -f.qty for f in fills)
    fees = sum(f.fee for f in fills)
    return {"pnl": received - spent - fees + held * last_close, "fees": fees,
            "fills": len(fills), "held": held}  # fmt: skip


def match_fills(backtest: list[_Fill], actual: list[_Fill], step_ms: int):
    """Pairs (backtest fill, bot fill) of the same side within MATCH_BARS bars, in time order
    (each fill used once); and the backtest's and the bot's fills left unmatched."""
    pairs, used = [], set()
    for b in backtest:
        best = None
        for j, a in enumerate(actual):
            if j in used or a.side != b.side or abs(a.ts - b.ts) > MATCH_BARS * step_ms:
                continue
            if best is None or abs(a.ts - b.ts) < abs(actual[best].ts - b.ts):
                best = j
        if best is not None:
            used.add(best)
            pairs.append((b, actual[best]))
    matched = {id(b) for b, _ in pairs}
    missed = [b for b in backtest if id(b) not in matched]
    extra = [a for j, a in enumerate(actual) if j not in used]
    return pairs, missed, extra


def _slippage(pairs) -> float:
    """What the bot lost to worse prices on matched fills (positive: a cost)."""
    return sum(
        (a.price - b.price) * a.qty if a.side == "buy" else (b.price - a.price) * a.qty
        for b, a in pairs
    )


def decompose(backtest: list[_Fill], actual: list[_Fill], last_close: float, step_ms: int):
    ours, theirs = _value(backtest, last_close), _value(actual, last_close)
    pairs, missed, extra = match_fills(backtest, actual, step_ms)
    difference = theirs["pnl"] - ours["pnl"]
    fees = -(theirs["fees"] - ours["fees"])
    slippage = -_slippage(pairs)
    return {
        "backtest": ours, "bot": theirs, "difference": difference,
        "causes": {"fees": fees, "slippage": slippage,
                   "missed_and_extra_fills": difference - fees - slippage},
        "matched": len(pairs), "missed": len(missed), "extra": len(extra),
        "pairs": [
            {"ts": b.ts, "side": b.side, "backtest_price": b.price, "bot_price": a.price,
             "backtest_qty": b.qty, "bot_qty": a.qty, "bot_ts": a.ts,
             "slippage_bp": ((a.price / b.price - 1) * (1 if b.side == "buy" else -1)) * 1e4}
            for b, a in pairs
        ],
        "missed_fills": [f.__dict__ for f in missed],
        "extra_fills": [f.__dict__ for f in extra],
    }  # fmt: skip


def _words(result: dict, quote: str) -> str:
    c = result["causes"]
    if not result["bot"]["fills"] and not result["backtest"]["fills"]:
        return "Neither the bot nor the backtest traded in this period."
    parts = [f"fees {c['fees']:+,.2f}", f"slippage {c['slippage']:+,.2f}",
             f"missed and extra fills {c['missed_and_extra_fills']:+,.2f}"]  # fmt: skip
    main = max(c, key=lambda k: abs(c[k]))
    names = {"fees": "fees", "slippage": "slippage",
             "missed_and_extra_fills": "fills one side made and the other did not"}  # fmt: skip
    return (
        f"The bot made {result['bot']['pnl']:+,.2f} {quote} against the backtest's "
        f"{result['backtest']['pnl']:+,.2f}: a difference of {result['difference']:+,.2f} "
        f"({'; '.join(parts)}), mostly from {names[main]}."
    )


def paper_comparison_applies(strategy: str) -> bool:
    """Whether a bot of `strategy` can be compared: a candle backtest replays signal and grid
    strategies, not the ones that quote on order books or trade on alerts."""
    return FAMILIES.get(strategy) in ("signal", "grid")


def bot_paper_comparison(*, bot, start: datetime | None = None, end: datetime | None = None):
    """The backtest over the bot's period next to its fills (see the module docstring).
    The period defaults to the bot's first fill until now. ValidationError in words when it
    cannot be compared (not a candle strategy, no candles)."""
    from django.utils.timezone import now

    if not paper_comparison_applies(bot.strategy):
        raise ValidationError({"bot": (
            f"{bot.strategy} quotes on order books; a backtest on candles cannot replay it."
        )})  # fmt: skip
    exchange = bot.venues.order_by("position").values_list("exchange", flat=True).first()
    symbol = bot.symbols[0] if bot.symbols else ""
    fills = list(bot.fills.filter(exchange=exchange, symbol=symbol).order_by("executed_at", "id"))
    start = start or (fills[0].executed_at if fills else None)
    if start is None:
        raise ValidationError({"bot": "The bot has no fills yet: nothing to compare."})
    end = end or now()
    step = TIMEFRAMES_MS[TIMEFRAME]
    start_ms, end_ms = dt_to_ms(start) // step * step, dt_to_ms(end)
    config = validate_config(bot.strategy, bot.params)
    # the bars before the period warm the indicators up, so the backtest can trade from its
    # first bar as the bot could (a bot's indicators start from history too)
    warmup = indicator_warmup(bot.strategy, config) if FAMILIES[bot.strategy] == "signal" else 0
    candles = backtest_candles(exchange=exchange, symbol=symbol, timeframe=TIMEFRAME,
                               start_ms=start_ms - warmup * step, end_ms=end_ms)  # fmt: skip
    if candles is None or not (candles.ts >= start_ms).any():
        raise ValidationError({"bot": (
            f"No {TIMEFRAME} candles of {symbol} on {exchange} are stored for the bot's period."
        )})  # fmt: skip
    actual = [
        _Fill(dt_to_ms(f.executed_at), f.side, float(f.price), float(f.qty), float(f.fee))
        for f in fills if start_ms <= dt_to_ms(f.executed_at) < end_ms
    ]  # fmt: skip
    from strategies.services import backtest_default_fee

    fee_rate = backtest_default_fee(exchange=exchange, symbol=symbol)  # what a backtest charges
    base, _, quote = symbol.partition("/")
    steps = instrument_steps(exchange=exchange, symbol=symbol) or {}
    instrument = Instrument(symbol, base, quote, steps.get("price_step") or _STEP,
                            steps.get("amount_step") or _STEP, steps.get("min_cost") or Decimal(0),
                            fee_rate, fee_rate)  # fmt: skip
    strategy = REGISTRY[bot.strategy](config, symbol=symbol)
    result = run_candles(strategy, candles, instrument, cash=bot.budget, interval_ms=step)
    backtest = [_Fill(int(f.ts), f.side.value, float(f.price), float(f.qty), float(f.fee))
                for f in result.fills if int(f.ts) >= start_ms]  # fmt: skip
    first = int(np.searchsorted(candles.ts, start_ms))
    out = decompose(backtest, actual, float(candles.close[-1]), step)
    out.update(
        exchange=exchange, symbol=symbol, quote=quote,
        start_ms=int(candles.ts[first]), end_ms=int(candles.ts[-1]) + step,
        bars=len(candles) - first, warmup_bars=first,
        fee_rate=str(fee_rate), bot_fee_rate=f"{_fee_rate(fills).normalize():f}",
        words=_words(out, quote),
    )  # fmt: skip
    return out


def _fee_rate(fills) -> Decimal:
    """The rate the bot's fills paid on average (quote fees over notional), else 0.1%."""
    notional = sum((f.price * f.qty for f in fills), Decimal(0))
    fees = sum((f.fee for f in fills), Decimal(0))
    if notional <= 0:
        return Decimal("0.001")
    return (fees / notional).quantize(Decimal("0.0000001"))


def stamp(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
