"""The indicator lines a signal strategy trades on, computed from its parameters and closes.

One source for every chart that draws them: the bot page (trading's bot chart) and the
backtest results. Pane 0 overlays the price; pane 1 is a separate pane under it (RSI, MACD).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tradecore import indicators as ind
from tradecore.strategies import REGISTRY


def indicator_config(strategy: str, params: Mapping):
    """The strategy's config from `params` (its defaults where a parameter no longer fits)."""
    config_class = REGISTRY[strategy].config_class
    try:
        return config_class(**params)
    except (TypeError, ValueError):
        return config_class()


def indicator_warmup(strategy: str, config) -> int:
    """Bars the indicators need before their first value."""
    periods = [getattr(config, name, 0) for name in ("slow", "period")]
    extra = getattr(config, "signal", 0) if strategy == "macd" else 1
    return max(periods) + extra


def indicator_series(strategy: str, config, closes) -> dict[str, dict]:
    """{name: {"pane": 0 | 1, "values": float array (NaN in the warm-up), "levels"?: [...]}}
    for a signal strategy; {} for any other."""
    closes = np.asarray(closes, dtype=np.float64)
    if strategy in ("sma_cross", "ema_cross"):
        average = ind.sma if strategy == "sma_cross" else ind.ema
        lines = {
            "fast": (0, average(closes, config.fast)),
            "slow": (0, average(closes, config.slow)),
        }
    elif strategy == "bollinger":
        upper, middle, lower = ind.bollinger(closes, config.period, config.k)
        lines = {"upper": (0, upper), "middle": (0, middle), "lower": (0, lower)}
    elif strategy == "rsi_mean_reversion":
        lines = {"rsi": (1, ind.rsi(closes, config.period))}
    elif strategy == "macd":
        line, signal, histogram = ind.macd(closes, config.fast, config.slow, config.signal)
        lines = {"macd": (1, line), "signal": (1, signal), "histogram": (1, histogram)}
    else:
        return {}
    out = {
        name: {"pane": pane, "values": np.asarray(values, dtype=np.float64)}
        for name, (pane, values) in lines.items()
    }
    if strategy == "rsi_mean_reversion":  # the thresholds it trades on, drawn across the pane
        out["rsi"]["levels"] = [float(config.oversold), float(config.overbought)]
    return out


def indicator_lines(strategy: str, params: Mapping, closes, times) -> dict[str, dict]:
    """The lines as chart points: {name: {"pane", "points": [{time, value}], "levels"?}},
    leaving out the warm-up bars (NaN). `times` are the chart's times, one per close."""
    series = indicator_series(strategy, indicator_config(strategy, params), closes)
    out = {}
    for name, line in series.items():
        out[name] = {
            "pane": line["pane"],
            "points": [
                {"time": t, "value": float(v)}
                for t, v in zip(times, line["values"].tolist(), strict=True)
                if v == v  # NaN is the only value unequal to itself
            ],
        }
        if "levels" in line:
            out[name]["levels"] = line["levels"]
    return out
