"""Signals with their indicator values, and strategy checkpoints as JSON.

`RecordingStrategy` stands between the engine and the strategy: every callback that asks for
orders (not a plain re-quote) is recorded as a Signal with the indicator values the strategy
held when it decided. Checkpoints go through `state_encode`, since JSON has no NaN.
"""

from __future__ import annotations

import math
from decimal import Decimal

from tradecore.intents import CancelAllIntent, CancelIntent, OrderIntent, QuoteIntent


def _number(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def indicators_of(strategy) -> dict:
    """The indicator values a strategy holds now (best effort, by strategy family)."""
    out: dict[str, object] = {}
    for name, attr in (
        ("fast", "_prev_fast"),
        ("slow", "_prev_slow"),
        ("mid", "mid"),
    ):
        if hasattr(strategy, attr):
            out[name] = _number(getattr(strategy, attr))
    sid = getattr(strategy, "strategy_id", "")
    if sid == "rsi_mean_reversion":
        out["rsi"] = _number(strategy._prev)
    elif sid == "macd":
        out["macd"], out["signal"] = (_number(v) for v in strategy._prev)
    elif sid == "bollinger":
        out["bands"] = state_encode(strategy.snapshot().get("bands"))
    elif sid == "avellaneda_stoikov":
        out["variance"], out["kappa"] = _number(strategy.variance()), _number(strategy.kappa())
    return {k: v for k, v in out.items() if v is not None}


def intent_json(intent) -> dict:
    if isinstance(intent, OrderIntent):
        return {
            "intent": "order",
            "symbol": intent.symbol,
            "side": intent.side.value,
            "type": intent.type.value,
            "qty": str(intent.qty),
            "price": _number(intent.price),
            "quote_qty": _number(intent.quote_qty),
            "venue": intent.venue,
            "tag": intent.tag,
        }
    if isinstance(intent, CancelAllIntent):
        return {"intent": "cancel_all", "symbol": intent.symbol, "venue": intent.venue}
    if isinstance(intent, CancelIntent):
        return {"intent": "cancel", "client_order_id": intent.client_order_id}
    return {"intent": type(intent).__name__}


def _kind(intents) -> str:
    orders = [i for i in intents if isinstance(i, OrderIntent)]
    if not orders:
        return "cancel"
    first = orders[0]
    if first.tag:
        return first.tag.split("-")[0][:16]
    return "entry" if first.side.value == "buy" else "exit"


class RecordingStrategy:
    """Delegates every callback to the strategy and records the ones that ask for orders."""

    def __init__(self, inner, books, clock) -> None:
        self.inner = inner
        self.books = books
        self.clock = clock
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _seen(self, symbol: str, intents):
        self.calls += 1
        if intents and not all(isinstance(i, QuoteIntent) for i in intents):
            self.books.signal(
                self.clock.now_ms(),
                symbol,
                _kind(intents),
                indicators_of(self.inner),
                [intent_json(i) for i in intents if not isinstance(i, QuoteIntent)],
            )
        return intents

    def on_start(self, ctx):
        return self._seen(self.inner.symbol, self.inner.on_start(ctx))

    def on_stop(self):
        return self._seen(self.inner.symbol, self.inner.on_stop())

    def on_candle(self, symbol, candle):
        return self._seen(symbol, self.inner.on_candle(symbol, candle))

    def on_trade(self, symbol, trade):
        return self._seen(symbol, self.inner.on_trade(symbol, trade))

    def on_book(self, symbol, book, venue=""):
        return self._seen(symbol, self.inner.on_book(symbol, book, venue))

    def on_fill(self, fill):
        return self._seen(fill.symbol, self.inner.on_fill(fill))

    def on_timer(self, now_ms):
        return self._seen(self.inner.symbol, self.inner.on_timer(now_ms))

    def on_signal(self, action, qty):
        return self._seen(self.inner.symbol, self.inner.on_signal(action, qty))


_FLOAT = "$float"


def state_encode(value):
    """A snapshot as strict JSON: non-finite floats tagged, tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return {_FLOAT: repr(value)}
    if isinstance(value, dict):
        return {str(k): state_encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [state_encode(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def state_decode(value):
    """Undo `state_encode`."""
    if isinstance(value, dict):
        if set(value) == {_FLOAT}:
            return float(value[_FLOAT])
        return {k: state_decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [state_decode(v) for v in value]
    return value
