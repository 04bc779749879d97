"""Strategy base classes, configs with JSON schemas, and config validation."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Protocol

import numpy as np

from tradecore.domain import Candle, Fill, Instrument, Order, OrderType, Side, Trade
from tradecore.intents import CancelAllIntent, Intent, OrderIntent
from tradecore.orderbook import OrderBook

NO_INTENTS: tuple = ()


class ConfigError(ValueError):
    """A strategy config problem; `field` names the offending parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def param(
    default: Any,
    description: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    choices: Sequence[str] | None = None,
):
    """Declare a documented config field with its JSON-schema bounds."""
    meta = {"description": description}
    for key, value in (
        ("minimum", minimum),
        ("maximum", maximum),
        ("exclusiveMinimum", exclusive_minimum),
        ("enum", list(choices) if choices else None),
    ):
        if value is not None:
            meta[key] = value
    return dataclasses.field(default=default, metadata=meta)


_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}


@dataclasses.dataclass(frozen=True)
class StrategyConfig:
    """Base of every `<Name>Config`: frozen, documented, with a JSON schema and defaults."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _coerce(f.name, _field_type(self, f), getattr(self, f.name))
            object.__setattr__(self, f.name, value)
            _check_bounds(f.name, value, f.metadata)
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; raise ConfigError naming the field."""

    @classmethod
    def json_schema(cls) -> dict:
        properties = {}
        for f in dataclasses.fields(cls):
            kind = _field_type(cls, f)
            prop: dict[str, Any] = {"description": f.metadata.get("description", "")}
            if kind is Decimal:  # a JSON number, or a string to keep every digit
                prop["type"] = ["number", "string"]
                prop["pattern"] = r"^-?\d+(\.\d+)?$"
                prop["default"] = str(f.default)
            else:
                prop["type"] = _JSON_TYPES.get(kind, "string")
                prop["default"] = f.default
            for key in ("minimum", "maximum", "exclusiveMinimum", "enum"):
                if key in f.metadata:
                    prop[key] = f.metadata[key]
            properties[f.name] = prop
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": cls.__name__,
            "description": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }

    def to_dict(self) -> dict:
        return {
            f.name: str(v) if isinstance(v := getattr(self, f.name), Decimal) else v
            for f in dataclasses.fields(self)
        }


def _field_type(owner, f: dataclasses.Field) -> type:
    hint = f.type
    if isinstance(hint, str):
        hint = {"int": int, "float": float, "bool": bool, "str": str, "Decimal": Decimal}.get(
            hint, str
        )
    return hint


def _coerce(name: str, kind: type, value: Any) -> Any:
    try:
        if kind is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return lowered in ("true", "1", "yes")
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if kind is int:
            if isinstance(value, bool):
                raise ValueError(value)
            number = float(value) if isinstance(value, str) else value
            if isinstance(number, float) and not number.is_integer():
                raise ValueError(value)
            return int(number)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
            return number
        if kind is Decimal:
            if isinstance(value, bool):
                raise ValueError(value)
            number = Decimal(str(value))
            if not number.is_finite():
                raise ValueError(value)
            return number
        return str(value)
    except (ValueError, TypeError, InvalidOperation):
        expected = _JSON_TYPES.get(kind, "decimal number" if kind is Decimal else "value")
        raise ConfigError(name, f"expected {expected}, got {value!r}") from None


def _check_bounds(name: str, value: Any, meta: Mapping) -> None:
    if "enum" in meta and value not in meta["enum"]:
        raise ConfigError(name, f"must be one of {meta['enum']}, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return
    if "minimum" in meta and value < meta["minimum"]:
        raise ConfigError(name, f"must be >= {meta['minimum']}, got {value}")
    if "maximum" in meta and value > meta["maximum"]:
        raise ConfigError(name, f"must be <= {meta['maximum']}, got {value}")
    if "exclusiveMinimum" in meta and value <= meta["exclusiveMinimum"]:
        raise ConfigError(name, f"must be > {meta['exclusiveMinimum']}, got {value}")


class StrategyContext(Protocol):
    """What a strategy may read about the world (never an exchange handle)."""

    def now_ms(self) -> int: ...
    def instrument(self, symbol: str, venue: str = "") -> Instrument: ...
    def position(self, symbol: str, venue: str = "") -> Decimal: ...
    def free(self, asset: str, venue: str = "") -> Decimal: ...
    def book(self, symbol: str, venue: str = "") -> OrderBook | None: ...
    def open_orders(self, symbol: str | None = None, venue: str = "") -> list[Order]: ...
    def last_price(self, symbol: str, venue: str = "") -> Decimal | None: ...


class Strategy:
    """Base strategy: reacts to events and returns intents; holds only its own state."""

    strategy_id: ClassVar[str] = ""
    config_class: ClassVar[type[StrategyConfig]] = StrategyConfig

    def __init__(self, config: StrategyConfig | None = None, *, symbol: str = "BTC-USDT") -> None:
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}")
        self.symbol = symbol
        self.ctx: StrategyContext | None = None

    def on_start(self, ctx: StrategyContext) -> Sequence[Intent]:
        self.ctx = ctx
        return NO_INTENTS

    def on_candle(self, symbol: str, candle: Candle) -> Sequence[Intent]:
        return NO_INTENTS

    def on_trade(self, symbol: str, trade: Trade) -> Sequence[Intent]:
        return NO_INTENTS

    def on_book(self, symbol: str, book: OrderBook, venue: str = "") -> Sequence[Intent]:
        return NO_INTENTS

    def on_fill(self, fill: Fill) -> Sequence[Intent]:
        return NO_INTENTS

    def on_timer(self, now_ms: int) -> Sequence[Intent]:
        return NO_INTENTS

    def on_signal(self, action: str, qty: Decimal | None) -> Sequence[Intent]:
        """An alert from outside (the platform's signal webhook): ignored unless a strategy
        trades on alerts."""
        return NO_INTENTS

    def on_stop(self) -> Sequence[Intent]:
        return (CancelAllIntent(self.symbol),)

    def snapshot(self) -> dict:
        """The strategy's own state, JSON-friendly, so a live bot resumes where it stopped."""
        return {}

    def restore(self, state: dict) -> None:
        """Load a `snapshot()`."""


@dataclasses.dataclass(frozen=True)
class SignalConfig(StrategyConfig):
    """Shared fields of long-only signal strategies."""

    allocation: float = param(
        1.0, "Fraction of free quote spent on each entry", exclusive_minimum=0, maximum=1
    )


class SignalStrategy(Strategy):
    """Long-only spot signal strategy: enter with a market buy at the next bar's open when the
    entry condition holds and it is flat; sell the whole position when the exit condition holds.

    Subclasses implement `step(candle) -> (entry, exit)` (streaming) and
    `signals(open, high, low, close, volume) -> (entries, exits)` (vectorized); both must agree.
    """

    def __init__(self, config: StrategyConfig | None = None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self._instrument: Instrument | None = None  # looked up on the first signal
        self._allocation = Decimal(repr(self.config.allocation))

    def on_candle(self, symbol: str, candle: Candle) -> Sequence[Intent]:
        if symbol != self.symbol:
            return NO_INTENTS
        entry, exit_ = self.step(candle)
        if not (entry or exit_):
            return NO_INTENTS
        return self._act(entry, exit_)

    def _act(self, entry: bool, exit_: bool) -> Sequence[Intent]:
        ctx = self.ctx
        inst = self._instrument
        if inst is None:
            inst = self._instrument = ctx.instrument(self.symbol)
        held = inst.round_qty(ctx.position(self.symbol))
        if ctx.open_orders(self.symbol):
            return NO_INTENTS
        if held <= 0 and entry:
            cash = ctx.free(inst.quote) * self._allocation
            if cash <= 0:
                return NO_INTENTS
            return (OrderIntent(self.symbol, Side.BUY, OrderType.MARKET, quote_qty=cash),)
        if held > 0 and exit_:
            return (
                OrderIntent(
                    self.symbol, Side.SELL, OrderType.MARKET, qty=held, reduces_position=True
                ),
            )
        return NO_INTENTS

    @property
    def warmup_bars(self) -> int:
        """Bars the indicators need before the first signal can fire (data shorter than this
        can give no trade at all)."""
        return 1

    def step(self, candle: Candle) -> tuple[bool, bool]:
        raise NotImplementedError

    def signals(self, open_, high, low, close, volume) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
