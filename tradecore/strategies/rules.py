"""A rules strategy: entry and exit conditions over indicators and prices, stored as JSON.

A rule set is a JSON object ``{"entry": group, "exit": group}``. A group is
``{"op": "and" | "or", "conditions": [condition or group, ...]}`` (groups nest, at most
`MAX_DEPTH` deep). A condition is one of

- ``{"type": "crosses_above" | "crosses_below", "left": series, "right": series}``: the last
  non-zero sign rule of `indicators.crossed_above`, so a cross through an exact tie counts once,
  at the bar where the sign changes, as SmaCross does;
- ``{"type": "greater_than" | "less_than", "left": series, "right": series}`` (strict);
- ``{"type": "within_band", "series": series, "band": {"indicator": "bollinger", "period": p,
  "k": k}}``: lower <= series <= upper;
- ``{"type": "rising" | "falling", "series": series, "bars": n}``: the series rose (fell)
  strictly on each of the last n bars.

A series is ``{"indicator": "close" | "open" | "high" | "low"}``, ``{"indicator": "sma" |
"ema" | "rsi" | "atr", "period": p}``, ``{"indicator": "macd", "fast": f, "slow": s, "signal":
g, "output": "line" | "signal" | "hist"}``, ``{"indicator": "bollinger", "period": p, "k": k,
"output": "upper" | "middle" | "lower"}``, or (on the right of a comparison or cross only) a
constant ``{"value": x}``. A value that is NaN (an indicator warming up) makes a comparison
false and gives a cross no sign.

The rule set compiles to both paths of `SignalStrategy`: `step`/`on_candle` (streaming, one
bar at a time, with the streaming indicators) and `signals(...)` (vectorized, numpy arrays);
they give the same entry and exit bars, hence the same trades.

Position sizing (config fields, outside the rule set): ``fraction`` of free quote (which is the
equity, since the strategy only buys when flat) is `SignalStrategy`'s allocation and the only
sizing the vectorized backtest (`run_vectorized`) reproduces; ``fixed`` quote amount and
``atr`` (volatility-scaled: risk `risk_fraction` of equity on a move of `atr_multiple` x ATR)
are sized on the streaming path only (event-driven backtests and bots): with them `signals()`
refuses (ConfigError on `sizing`) and `rule_signals()` still gives the bars. Stop-loss,
take-profit and trailing stops are not part of the rule set: `SignalStrategy` does nothing while
an order rests, a resting sell locks the base so a stop and a take-profit cannot both rest (no
OCO on the simulated exchange), and the vectorized path has no intrabar trigger model, so the
two paths would part; `RiskLimits` stop-loss and trailing-stop guards (flatten at the mark) work
on the event-driven path. Conditions on other timeframes are not supported either.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from tradecore import indicators as ind
from tradecore.domain import Candle, OrderType, Side
from tradecore.intents import Intent, OrderIntent
from tradecore.strategies.base import (
    NO_INTENTS,
    ConfigError,
    SignalConfig,
    SignalStrategy,
    param,
)

MAX_DEPTH = 5  # nesting levels of groups, the top group counting as 1
MAX_CONDITIONS = 50  # conditions and groups in one rule set
MAX_PERIOD = 10_000

PRICES = ("close", "open", "high", "low")
PERIODIC = ("sma", "ema", "rsi", "atr")
INDICATORS = (*PRICES, *PERIODIC, "macd", "bollinger")
OUTPUTS = {"macd": ("line", "signal", "hist"), "bollinger": ("upper", "middle", "lower")}
DEFAULT_OUTPUT = {"macd": "line", "bollinger": "middle"}
COMPARISONS = ("crosses_above", "crosses_below", "greater_than", "less_than")
TRENDS = ("rising", "falling")
CONDITION_TYPES = (*COMPARISONS, "within_band", *TRENDS)
OPS = ("and", "or")


# -- the JSON schema ------------------------------------------------------------------------
def _period_schema(description: str, minimum: int = 1) -> dict:
    return {
        "type": "integer",
        "minimum": minimum,
        "maximum": MAX_PERIOD,
        "description": description,
    }


_K_SCHEMA = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": 10,
    "description": "Band width in standard deviations",
}

RULES_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Rule set",
    "description": "Entry and exit conditions of the rules strategy",
    "type": "object",
    "required": ["entry", "exit"],
    "additionalProperties": False,
    "properties": {
        "entry": {"$ref": "#/$defs/group", "description": "Buy when this holds and flat"},
        "exit": {"$ref": "#/$defs/group", "description": "Sell all when this holds"},
    },
    "$defs": {
        "group": {
            "type": "object",
            "required": ["op", "conditions"],
            "additionalProperties": False,
            "properties": {
                "op": {"enum": list(OPS), "description": "How the conditions combine"},
                "conditions": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"oneOf": [{"$ref": "#/$defs/group"}, {"$ref": "#/$defs/condition"}]},
                },
            },
        },
        "condition": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["type", "left", "right"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"enum": list(COMPARISONS)},
                        "left": {"$ref": "#/$defs/series"},
                        "right": {"oneOf": [{"$ref": "#/$defs/series"}, {"$ref": "#/$defs/value"}]},
                    },
                },
                {
                    "type": "object",
                    "required": ["type", "series", "band"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"const": "within_band"},
                        "series": {"$ref": "#/$defs/series"},
                        "band": {
                            "type": "object",
                            "required": ["indicator"],
                            "additionalProperties": False,
                            "properties": {
                                "indicator": {"const": "bollinger"},
                                "period": _period_schema("Band period in bars", 2),
                                "k": _K_SCHEMA,
                            },
                        },
                    },
                },
                {
                    "type": "object",
                    "required": ["type", "series", "bars"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"enum": list(TRENDS)},
                        "series": {"$ref": "#/$defs/series"},
                        "bars": _period_schema("Bars in a row", 1),
                    },
                },
            ]
        },
        "value": {
            "type": "object",
            "required": ["value"],
            "additionalProperties": False,
            "properties": {"value": {"type": "number", "description": "A constant"}},
        },
        "series": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["indicator"],
                    "additionalProperties": False,
                    "properties": {"indicator": {"enum": list(PRICES)}},
                },
                {
                    "type": "object",
                    "required": ["indicator", "period"],
                    "additionalProperties": False,
                    "properties": {
                        "indicator": {"enum": list(PERIODIC)},
                        "period": _period_schema("Period in bars"),
                    },
                },
                {
                    "type": "object",
                    "required": ["indicator"],
                    "additionalProperties": False,
                    "properties": {
                        "indicator": {"const": "macd"},
                        "fast": _period_schema("Fast EMA period"),
                        "slow": _period_schema("Slow EMA period (longer than fast)", 2),
                        "signal": _period_schema("Signal EMA period"),
                        "output": {"enum": list(OUTPUTS["macd"])},
                    },
                },
                {
                    "type": "object",
                    "required": ["indicator"],
                    "additionalProperties": False,
                    "properties": {
                        "indicator": {"const": "bollinger"},
                        "period": _period_schema("Band period in bars", 2),
                        "k": _K_SCHEMA,
                        "output": {"enum": list(OUTPUTS["bollinger"])},
                    },
                },
            ]
        },
    },
}

# Parameters of each indicator: name -> (kind, default, minimum); kind "int" or "float".
_PARAMS: dict[str, dict[str, tuple[str, float, float]]] = {
    "sma": {"period": ("int", 20, 1)},
    "ema": {"period": ("int", 20, 1)},
    "rsi": {"period": ("int", 14, 1)},
    "atr": {"period": ("int", 14, 1)},
    "macd": {"fast": ("int", 12, 1), "slow": ("int", 26, 2), "signal": ("int", 9, 1)},
    "bollinger": {"period": ("int", 20, 2), "k": ("float", 2.0, 0)},
    **{price: {} for price in PRICES},
}
_REQUIRED = {"sma": ("period",), "ema": ("period",), "rsi": ("period",), "atr": ("period",)}


# -- validation -----------------------------------------------------------------------------
def parse_rules(rules: str | Mapping) -> dict:
    """The rule set as a normalized dict (defaults filled in), or ConfigError naming the field
    by its path in the rule set, e.g. ``entry.conditions[1].left.period``."""
    if isinstance(rules, str):
        try:
            rules = json.loads(rules)
        except json.JSONDecodeError as exc:
            raise ConfigError("rules", f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    return _Validator().rule_set(rules)


def dump_rules(rules: Mapping) -> str:
    """Canonical JSON of a (normalized) rule set: sorted keys, no spaces."""
    return json.dumps(rules, sort_keys=True, separators=(",", ":"))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


class _Validator:
    def __init__(self) -> None:
        self.count = 0

    def _object(self, path: str, value: Any, allowed: Sequence[str]) -> Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(path or "rules", f"expected an object, got {_type_name(value)}")
        for key in value:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                raise ConfigError(where, f"unknown field; allowed: {', '.join(allowed)}")
        return value

    def rule_set(self, value: Any) -> dict:
        rules = self._object("", value, ("entry", "exit"))
        out = {}
        for side in ("entry", "exit"):
            if side not in rules:
                raise ConfigError(side, "is required")
            out[side] = self.group(side, rules[side], 1)
        return out

    def group(self, path: str, value: Any, depth: int) -> dict:
        if depth > MAX_DEPTH:
            raise ConfigError(path, f"groups nest too deep (at most {MAX_DEPTH} levels)")
        group = self._object(path, value, ("op", "conditions"))
        op = group.get("op", "and")
        if op not in OPS:
            raise ConfigError(f"{path}.op", f"must be one of {list(OPS)}, got {op!r}")
        items = group.get("conditions")
        if not isinstance(items, list):
            raise ConfigError(f"{path}.conditions", f"expected an array, got {_type_name(items)}")
        if not items:
            raise ConfigError(f"{path}.conditions", "a group needs at least one condition")
        out = []
        for i, item in enumerate(items):
            where = f"{path}.conditions[{i}]"
            self.count += 1
            if self.count > MAX_CONDITIONS:
                raise ConfigError(where, f"too many conditions (at most {MAX_CONDITIONS})")
            if isinstance(item, Mapping) and "conditions" in item:
                out.append(self.group(where, item, depth + 1))
            else:
                out.append(self.condition(where, item))
        return {"op": op, "conditions": out}

    def condition(self, path: str, value: Any) -> dict:
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected an object, got {_type_name(value)}")
        kind = value.get("type")
        if kind is None:
            raise ConfigError(f"{path}.type", "is required")
        if kind not in CONDITION_TYPES:
            raise ConfigError(
                f"{path}.type", f"unknown condition {kind!r}; known: {', '.join(CONDITION_TYPES)}"
            )
        if kind in COMPARISONS:
            cond = self._object(path, value, ("type", "left", "right"))
            for side in ("left", "right"):
                if side not in cond:
                    raise ConfigError(f"{path}.{side}", "is required")
            return {
                "type": kind,
                "left": self.series(f"{path}.left", cond["left"]),
                "right": self.series(f"{path}.right", cond["right"], constant=True),
            }
        if kind == "within_band":
            cond = self._object(path, value, ("type", "series", "band"))
            for name in ("series", "band"):
                if name not in cond:
                    raise ConfigError(f"{path}.{name}", "is required")
            band = self.series(f"{path}.band", cond["band"])
            if band["indicator"] != "bollinger":
                raise ConfigError(f"{path}.band.indicator", "a band must be 'bollinger'")
            band.pop("output", None)
            if "output" in cond["band"]:
                raise ConfigError(f"{path}.band.output", "a band takes no output")
            return {"type": kind, "series": self.series(f"{path}.series", cond["series"]),
                    "band": band}  # fmt: skip
        cond = self._object(path, value, ("type", "series", "bars"))
        for name in ("series", "bars"):
            if name not in cond:
                raise ConfigError(f"{path}.{name}", "is required")
        return {
            "type": kind,
            "series": self.series(f"{path}.series", cond["series"]),
            "bars": self._number(f"{path}.bars", cond["bars"], "int", 1),
        }

    def series(self, path: str, value: Any, *, constant: bool = False) -> dict:
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected an object, got {_type_name(value)}")
        if "value" in value:
            if not constant:
                raise ConfigError(f"{path}.value", "a constant is allowed only on the right")
            self._object(path, value, ("value",))
            number = value["value"]
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise ConfigError(f"{path}.value", f"expected number, got {_type_name(number)}")
            if not math.isfinite(number):
                raise ConfigError(f"{path}.value", "must be a finite number")
            return {"value": float(number)}
        name = value.get("indicator")
        if name is None:
            raise ConfigError(f"{path}.indicator", "is required")
        if name not in INDICATORS:
            raise ConfigError(
                f"{path}.indicator", f"unknown indicator {name!r}; known: {', '.join(INDICATORS)}"
            )
        params = _PARAMS[name]
        allowed = ("indicator", *params, *(("output",) if name in OUTPUTS else ()))
        spec = self._object(path, value, allowed)
        out: dict[str, Any] = {"indicator": name}
        for key, (kind, default, minimum) in params.items():
            if key not in spec and key in _REQUIRED.get(name, ()):
                raise ConfigError(f"{path}.{key}", "is required")
            out[key] = self._number(f"{path}.{key}", spec.get(key, default), kind, minimum)
        if name == "macd" and out["fast"] >= out["slow"]:
            raise ConfigError(
                f"{path}.fast", f"must be shorter than slow ({out['slow']}), got {out['fast']}"
            )
        if name in OUTPUTS:
            output = spec.get("output", DEFAULT_OUTPUT[name])
            if output not in OUTPUTS[name]:
                raise ConfigError(
                    f"{path}.output", f"must be one of {list(OUTPUTS[name])}, got {output!r}"
                )
            out["output"] = output
        return out

    def _number(self, path: str, value: Any, kind: str, minimum: float) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            expected = "integer" if kind == "int" else "number"
            raise ConfigError(path, f"expected {expected}, got {_type_name(value)}")
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ConfigError(path, f"expected integer, got {value!r}")
            value = int(value)
            if value < minimum:
                raise ConfigError(path, f"must be >= {int(minimum)}, got {value}")
            if value > MAX_PERIOD:
                raise ConfigError(path, f"must be <= {MAX_PERIOD}, got {value}")
            return value
        value = float(value)
        if not math.isfinite(value) or value <= minimum:
            raise ConfigError(path, f"must be > {minimum:g}, got {value}")
        if value > 10:
            raise ConfigError(path, f"must be <= 10, got {value}")
        return value


# -- the sentence -----------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return f"{x:g}" if float(x).is_integer() or abs(x) >= 1e-4 else repr(x)


def series_label(spec: Mapping) -> str:
    """``SMA(50)``, ``MACD signal(12, 26, 9)``, ``lower Bollinger band(20, 2)``, ``close``."""
    if "value" in spec:
        return _fmt(spec["value"])
    name = spec["indicator"]
    if name in PRICES:
        return name
    if name == "macd":
        output = spec.get("output", "line")
        label = {"line": "MACD", "signal": "MACD signal", "hist": "MACD histogram"}[output]
        return f"{label}({spec['fast']}, {spec['slow']}, {spec['signal']})"
    if name == "bollinger":
        output = spec.get("output", "middle")
        return f"{output} Bollinger band({spec['period']}, {_fmt(spec['k'])})"
    return f"{name.upper()}({spec['period']})"


_VERBS = {
    "crosses_above": "crosses above",
    "crosses_below": "crosses below",
    "greater_than": ">",
    "less_than": "<",
}


def _condition_sentence(cond: Mapping) -> str:
    kind = cond["type"]
    if kind in _VERBS:
        return f"{series_label(cond['left'])} {_VERBS[kind]} {series_label(cond['right'])}"
    subject = series_label(cond["series"])
    if kind == "within_band":
        band = cond["band"]
        return f"{subject} is within Bollinger bands({band['period']}, {_fmt(band['k'])})"
    bars = cond["bars"]
    verb = "risen" if kind == "rising" else "fallen"
    return f"{subject} has {verb} for {bars} bar{'s' if bars != 1 else ''}"


def _group_sentence(group: Mapping, top: bool) -> str:
    parts = [
        _group_sentence(item, False) if "conditions" in item else _condition_sentence(item)
        for item in group["conditions"]
    ]
    text = f" {group['op']} ".join(parts)
    return text if top or len(parts) == 1 else f"({text})"


def describe(rules: str | Mapping) -> str:
    """One readable sentence for a rule set, e.g. "Enter when EMA(12) crosses above EMA(26) and
    RSI(14) < 70; exit when close crosses below SMA(50)." (validates it first)."""
    parsed = parse_rules(rules)
    return (
        f"Enter when {_group_sentence(parsed['entry'], True)}; "
        f"exit when {_group_sentence(parsed['exit'], True)}."
    )


# -- compiling ------------------------------------------------------------------------------
def _indicator_key(spec: Mapping) -> tuple:
    """The underlying indicator of a series (MACD line and signal share one MACD)."""
    name = spec["indicator"]
    return (name, *(spec[k] for k in _PARAMS[name]))


def _series_key(spec: Mapping) -> tuple:
    if "value" in spec:
        return ("value", spec["value"])
    return (*_indicator_key(spec), spec.get("output", ""))


class _StreamingBands:
    """Bollinger bands bar by bar: `indicators.StreamingBollinger`, whose arithmetic
    `_vector_bands` repeats exactly (the vectorized `indicators.bollinger` computes the standard
    deviation another way, equal only to rounding, so a tie could go differently)."""

    def __init__(self, period: int, k: float) -> None:
        self._bands = ind.StreamingBollinger(period, k)

    def update(self, candle: Candle) -> tuple[float, float, float]:
        return self._bands.update(candle[4])

    def snapshot(self) -> dict:
        return self._bands.snapshot()

    def restore(self, state: dict) -> None:
        state = dict(state)
        state["values"] = tuple(state["values"])
        self._bands.restore(state)


def _vector_bands(close: np.ndarray, period: int, k: float):
    middle = ind.sma(close, period)
    upper = np.full(len(close), np.nan)
    lower = np.full(len(close), np.nan)
    values = close.tolist()
    fsum, sqrt = math.fsum, math.sqrt
    for i in range(period - 1, len(values)):
        window = values[i - period + 1 : i + 1]
        mean = fsum(window) / period
        band = k * sqrt(fsum((v - mean) ** 2 for v in window) / period)
        m = float(middle[i])
        upper[i], lower[i] = m + band, m - band
    return upper, middle, lower


class _Streaming:
    """One underlying indicator fed bar by bar; `update` returns a float or a tuple."""

    def __init__(self, spec: Mapping) -> None:
        name = spec["indicator"]
        self.name = name
        self.impl: Any
        if name in PRICES:
            self.impl = None
            self._col = {"open": 1, "high": 2, "low": 3, "close": 4}[name]
        elif name == "sma":
            self.impl = ind.StreamingSMA(spec["period"])
        elif name == "ema":
            self.impl = ind.StreamingEMA(spec["period"])
        elif name == "rsi":
            self.impl = ind.StreamingRSI(spec["period"])
        elif name == "atr":
            self.impl = ind.StreamingATR(spec["period"])
        elif name == "macd":
            self.impl = ind.StreamingMACD(spec["fast"], spec["slow"], spec["signal"])
        else:
            self.impl = _StreamingBands(spec["period"], spec["k"])

    def update(self, candle: Candle) -> Any:
        name = self.name
        if self.impl is None:
            return candle[self._col]
        if name == "atr":
            return self.impl.update(candle[2], candle[3], candle[4])
        if name == "bollinger":
            return self.impl.update(candle)
        return self.impl.update(candle[4])

    def snapshot(self) -> Any:
        return None if self.impl is None else self.impl.snapshot()

    def restore(self, state: Any) -> None:
        if self.impl is None:
            return
        if self.name == "macd":
            state = dict(state)
            state["values"] = tuple(state["values"])
        self.impl.restore(state)


def _pick(spec: Mapping, raw: Any) -> float:
    name = spec["indicator"]
    if name == "macd":
        return raw[OUTPUTS["macd"].index(spec["output"])]
    if name == "bollinger":
        return raw[OUTPUTS["bollinger"].index(spec["output"])]
    return raw


def _vector(spec: Mapping, o, h, lo, c) -> np.ndarray | tuple:
    name = spec["indicator"]
    if name in PRICES:
        return {"open": o, "high": h, "low": lo, "close": c}[name]
    if name == "sma":
        return ind.sma(c, spec["period"])
    if name == "ema":
        return ind.ema(c, spec["period"])
    if name == "rsi":
        return ind.rsi(c, spec["period"])
    if name == "atr":
        return ind.atr(h, lo, c, spec["period"])
    if name == "macd":
        return ind.macd(c, spec["fast"], spec["slow"], spec["signal"])
    return _vector_bands(c, spec["period"], spec["k"])


def _warmup(spec: Mapping) -> int:
    name = spec.get("indicator")
    if name is None or name in PRICES:
        return 1
    if name in ("rsi", "atr"):
        return spec["period"] + 1
    if name == "macd":
        return spec["slow"] + spec["signal"] - 1
    return spec["period"]


def _leaves(group: Mapping) -> list[Mapping]:
    out: list[Mapping] = []
    for item in group["conditions"]:
        out.extend(_leaves(item) if "conditions" in item else [item])
    return out


def _combine(group: Mapping, values: Sequence, start: int) -> tuple[Any, int]:
    """Evaluate a group over its leaves' values (in leaf order from `start`); works on bools
    and on numpy bool arrays alike."""
    result: Any = None
    i = start
    for item in group["conditions"]:
        if "conditions" in item:
            value, i = _combine(item, values, i)
        else:
            value, i = values[i], i + 1
        if result is None:
            result = value
        elif group["op"] == "and":
            result = result & value
        else:
            result = result | value
    return result, i


def _rising_for(values: np.ndarray, bars: int, rising: bool) -> np.ndarray:
    """True at i when values[i-j] > values[i-j-1] (or <) for j in 0..bars-1; NaN breaks a run."""
    n = len(values)
    step = np.zeros(n, dtype=bool)
    if n > 1:
        step[1:] = values[1:] > values[:-1] if rising else values[1:] < values[:-1]
    # run length of consecutive True values ending at each bar
    idx = np.arange(n)
    last_false = np.maximum.accumulate(np.where(~step, idx, -1)) if n else idx
    return (idx - last_false) >= bars


# -- the strategy ---------------------------------------------------------------------------
EXAMPLE_RULES = {
    "entry": {
        "op": "and",
        "conditions": [
            {
                "type": "crosses_above",
                "left": {"indicator": "ema", "period": 12},
                "right": {"indicator": "ema", "period": 26},
            },
            {
                "type": "less_than",
                "left": {"indicator": "rsi", "period": 14},
                "right": {"value": 70},
            },
        ],
    },  # fmt: skip
    "exit": {
        "op": "or",
        "conditions": [
            {
                "type": "crosses_below",
                "left": {"indicator": "ema", "period": 12},
                "right": {"indicator": "ema", "period": 26},
            }
        ],
    },
}


@dataclasses.dataclass(frozen=True)
class RulesConfig(SignalConfig):
    """Long when the entry rules hold; flat when the exit rules hold (rules stored as JSON)."""

    rules: str = param(dump_rules(EXAMPLE_RULES), "Rule set as JSON (entry and exit groups)")
    sizing: str = param(
        "fraction",
        "Position sizing: fraction of free quote (allocation), fixed quote amount, or "
        "volatility-scaled by ATR (fixed and atr: event-driven path only)",
        choices=("fraction", "fixed", "atr"),
    )
    quote_amount: float = param(
        100.0, "Quote spent on each entry when sizing is fixed", exclusive_minimum=0
    )
    risk_fraction: float = param(
        0.01,
        "With ATR sizing: fraction of equity lost if the price moves atr_multiple x ATR",
        exclusive_minimum=0,
        maximum=1,
    )
    atr_period: int = param(14, "ATR period for ATR sizing", minimum=1, maximum=MAX_PERIOD)
    atr_multiple: float = param(2.0, "ATR multiple of the risked move", exclusive_minimum=0)

    def __post_init__(self) -> None:
        if isinstance(self.rules, Mapping):
            object.__setattr__(self, "rules", dump_rules(parse_rules(self.rules)))
        elif not isinstance(self.rules, str):
            raise ConfigError("rules", f"expected a JSON object, got {_type_name(self.rules)}")
        super().__post_init__()

    def validate(self) -> None:
        object.__setattr__(self, "rules", dump_rules(parse_rules(self.rules)))

    @property
    def rule_set(self) -> dict:
        return json.loads(self.rules)

    @classmethod
    def json_schema(cls) -> dict:
        schema = super().json_schema()
        prop = schema["properties"]["rules"]
        prop["type"] = ["string", "object"]
        prop["contentMediaType"] = "application/json"
        prop["contentSchema"] = RULES_SCHEMA
        return schema


class RulesStrategy(SignalStrategy):
    """Signals from a rule set (see the module docstring); long-only spot, market orders at
    the next bar's open like every `SignalStrategy`."""

    strategy_id = "rules"
    config_class = RulesConfig
    config: RulesConfig

    def __init__(self, config: RulesConfig | None = None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        rules = self.config.rule_set
        self._entry, self._exit = rules["entry"], rules["exit"]
        leaves = _leaves(self._entry) + _leaves(self._exit)
        self._leaves = leaves
        self._n_entry = len(_leaves(self._entry))
        # one streaming indicator per distinct (name, params), updated once per bar in order
        self._indicators: dict[tuple, _Streaming] = {}
        for spec in self._series_specs():
            key = _indicator_key(spec)
            if key not in self._indicators:
                self._indicators[key] = _Streaming(spec)
        if self.config.sizing == "atr":
            self._atr = ind.StreamingATR(self.config.atr_period)
        self._atr_value = float("nan")
        self._close = float("nan")
        # per leaf: last non-zero sign (crosses), previous value and run length (trends)
        self._state: list[list[float]] = [[0.0, float("nan"), 0.0] for _ in leaves]
        self._compile()

    def _series_specs(self) -> list[Mapping]:
        specs: list[Mapping] = []
        for leaf in self._leaves:
            for name in ("left", "right", "series"):
                spec = leaf.get(name)
                if spec is not None and "value" not in spec:
                    specs.append(spec)
            if "band" in leaf:
                specs.append({**leaf["band"], "output": "middle"})
        return specs

    @property
    def warmup_bars(self) -> int:
        bars = 1
        for leaf in self._leaves:
            kind = leaf["type"]
            if kind in COMPARISONS:
                need = max(_warmup(leaf["left"]), _warmup(leaf["right"]))
                need += 1 if kind.startswith("crosses") else 0
            elif kind == "within_band":
                need = max(_warmup(leaf["series"]), _warmup(leaf["band"]))
            else:
                need = _warmup(leaf["series"]) + leaf["bars"]
            bars = max(bars, need)
        return bars

    # -- streaming
    def _compile(self) -> None:
        """Closures for `step`: the indicator updates in order, then each leaf condition on the
        bar's values (every leaf every bar: crosses and trends keep state), then the groups."""
        keys = list(self._indicators)
        index = {key: i for i, key in enumerate(keys)}
        self._updates = [_update_of(self._indicators[key]) for key in keys]

        def getter(spec: Mapping) -> Callable[[list], float]:
            if "value" in spec:
                constant = spec["value"]
                return lambda raw: constant
            i = index[_indicator_key(spec)]
            name = spec["indicator"]
            if name in OUTPUTS:
                j = OUTPUTS[name].index(spec["output"])
                return lambda raw: raw[i][j]
            return lambda raw: raw[i]

        self._leaf_steps = [
            _leaf_step(leaf, state, getter)
            for leaf, state in zip(self._leaves, self._state, strict=True)
        ]
        self._entry_of = _group_of(self._entry, 0)
        self._exit_of = _group_of(self._exit, self._n_entry)

    def step(self, candle: Candle) -> tuple[bool, bool]:
        raw = [update(candle) for update in self._updates]
        if self.config.sizing == "atr":
            self._atr_value = self._atr.update(candle[2], candle[3], candle[4])
        self._close = candle[4]
        results = [leaf(raw) for leaf in self._leaf_steps]
        return self._entry_of(results), self._exit_of(results)

    # -- vectorized
    def signals(self, open_, high, low, close, volume) -> tuple[np.ndarray, np.ndarray]:
        """The vectorized path's entry and exit signals. Its backtests (`run_vectorized`, the
        optimizer) size every entry by `allocation`, so with `fixed` or `atr` sizing this
        refuses rather than give other trades than the event-driven path; `rule_signals` gives
        the same bars whatever the sizing (for a chart preview)."""
        if self.config.sizing != "fraction":
            raise ConfigError(
                "sizing",
                f"{self.config.sizing!r} sizing runs only in event-driven backtests and bots; "
                "the vectorized path sizes by fraction (allocation)",
            )
        return self.rule_signals(open_, high, low, close, volume)

    def rule_signals(self, open_, high, low, close, volume) -> tuple[np.ndarray, np.ndarray]:
        """Entry and exit signals of the rule set, vectorized (equal to `step`'s bar by bar)."""
        o, h, lo, c = (np.asarray(x, dtype=np.float64) for x in (open_, high, low, close))
        n = len(c)
        cache: dict[tuple, Any] = {}

        def array(spec: Mapping) -> np.ndarray:
            if "value" in spec:
                return np.full(n, spec["value"])
            key = _indicator_key(spec)
            if key not in cache:
                cache[key] = _vector(spec, o, h, lo, c)
            return np.asarray(_pick(spec, cache[key]), dtype=np.float64)

        results = []
        for leaf in self._leaves:
            kind = leaf["type"]
            if kind in COMPARISONS:
                left, right = array(leaf["left"]), array(leaf["right"])
                if kind == "greater_than":
                    results.append(left > right)
                elif kind == "less_than":
                    results.append(left < right)
                elif kind == "crosses_above":
                    results.append(ind.crossed_above(left, right).astype(bool))
                else:
                    results.append(ind.crossed_below(left, right).astype(bool))
            elif kind == "within_band":
                x = array(leaf["series"])
                upper = array({**leaf["band"], "output": "upper"})
                lower = array({**leaf["band"], "output": "lower"})
                results.append((lower <= x) & (x <= upper))
            else:
                results.append(_rising_for(array(leaf["series"]), leaf["bars"], kind == "rising"))
        entry, _ = _combine(self._entry, results, 0)
        exit_, _ = _combine(self._exit, results, self._n_entry)
        return np.asarray(entry, dtype=bool), np.asarray(exit_, dtype=bool)

    # -- sizing
    def _act(self, entry: bool, exit_: bool) -> Sequence[Intent]:
        sizing = self.config.sizing
        if sizing == "fraction" or not entry:
            return super()._act(entry, exit_)
        ctx = self.ctx
        assert ctx is not None
        inst = self._instrument
        if inst is None:
            inst = self._instrument = ctx.instrument(self.symbol)
        held = inst.round_qty(ctx.position(self.symbol))
        if held > 0 or ctx.open_orders(self.symbol):
            return super()._act(False, exit_)
        free = ctx.free(inst.quote)
        if sizing == "fixed":
            cash = min(free, Decimal(repr(self.config.quote_amount)))
        else:
            atr, close = self._atr_value, self._close
            if not (atr > 0 and close > 0):  # ATR warming up (NaN) or a flat market
                return NO_INTENTS
            c = self.config
            wanted = float(free) * c.risk_fraction * close / (c.atr_multiple * atr)
            cash = min(free, Decimal(repr(wanted)))
        if cash <= 0:
            return NO_INTENTS
        return (OrderIntent(self.symbol, Side.BUY, OrderType.MARKET, quote_qty=cash),)

    # -- checkpoints
    def snapshot(self) -> dict:
        state = {
            "indicators": [feed.snapshot() for feed in self._indicators.values()],
            "leaves": [list(s) for s in self._state],
            "close": self._close,
            "atr_value": self._atr_value,
        }
        if self.config.sizing == "atr":
            state["atr"] = self._atr.snapshot()
        return state

    def restore(self, state: dict) -> None:
        for feed, saved in zip(self._indicators.values(), state["indicators"], strict=True):
            feed.restore(saved)
        nan = float("nan")
        for mine, saved in zip(self._state, state["leaves"], strict=True):  # closures hold them
            mine[:] = [nan if v is None else v for v in saved]
        self._close = nan if state["close"] is None else state["close"]
        self._atr_value = nan if state["atr_value"] is None else state["atr_value"]
        if self.config.sizing == "atr" and "atr" in state:
            self._atr.restore(state["atr"])


def _update_of(feed: _Streaming) -> Callable[[Candle], Any]:
    """The feed's per-bar update as one call on the candle."""
    impl, name = feed.impl, feed.name
    if impl is None:
        col = feed._col
        return lambda candle: candle[col]
    update = impl.update
    if name == "atr":
        return lambda candle: update(candle[2], candle[3], candle[4])
    if name == "bollinger":
        return update
    return lambda candle: update(candle[4])


def _leaf_step(
    leaf: Mapping, state: list[float], getter: Callable[[Mapping], Callable[[list], float]]
) -> Callable[[list], bool]:
    """One condition as a closure over the bar's raw indicator values; `state` holds the last
    non-zero sign (crosses), the previous value and the run length (rising/falling)."""
    kind = leaf["type"]
    if kind in COMPARISONS:
        left, right = getter(leaf["left"]), getter(leaf["right"])
        if kind == "greater_than":
            return lambda raw: left(raw) > right(raw)
        if kind == "less_than":
            return lambda raw: left(raw) < right(raw)
        up = kind == "crosses_above"

        def cross(raw: list) -> bool:
            a, b = left(raw), right(raw)
            sign = 1 if a > b else -1 if a < b else 0
            if not sign:  # a tie or NaN keeps the last sign
                return False
            before = state[0]
            state[0] = sign
            return before < 0 < sign if up else sign < 0 < before

        return cross
    if kind == "within_band":
        x = getter(leaf["series"])
        band = leaf["band"]
        upper = getter({**band, "output": "upper"})
        lower = getter({**band, "output": "lower"})
        return lambda raw: lower(raw) <= x(raw) <= upper(raw)
    series, bars, rising = getter(leaf["series"]), leaf["bars"], kind == "rising"

    def trend(raw: list) -> bool:
        value = series(raw)
        prev = state[1]
        state[1] = value
        moved = value > prev if rising else value < prev
        state[2] = state[2] + 1 if moved else 0
        return state[2] >= bars

    return trend


def _result_at(i: int) -> Callable[[list], bool]:
    return lambda results: results[i]


def _group_of(group: Mapping, start: int) -> Callable[[list], bool]:
    """A group as a closure over the leaves' results (leaves numbered in order from start)."""
    parts: list[Callable[[list], bool]] = []
    i = start
    for item in group["conditions"]:
        if "conditions" in item:
            parts.append(_group_of(item, i))
            i += len(_leaves(item))
        else:
            parts.append(_result_at(i))
            i += 1
    if group["op"] == "and":
        return lambda results: all([part(results) for part in parts])
    return lambda results: any([part(results) for part in parts])
