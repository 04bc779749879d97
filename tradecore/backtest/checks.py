"""Inputs a backtest cannot run on, and inputs it can run on but the user must hear about.

`check_inputs` raises `ConfigError` (naming the field) for what would give a meaningless result —
a fee of 100% or more drives balances negative, no starting capital divides by zero — and
returns warnings in words for what gives a result that is easy to misread: data shorter than the
strategy's warm-up (no signal can fire, 0 trades) and bars with zero volume (a market order
fills there at the bar's open although nothing traded). The command line prints the warnings;
the product stores them with the run.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from tradecore.backtest.data import CandleArrays
from tradecore.domain import Instrument
from tradecore.strategies.base import ConfigError


def check_inputs(
    strategy,
    candles: CandleArrays,
    instrument: Instrument,
    *,
    cash: Decimal | int | str,
    base: Decimal | int | str = 0,
) -> list[str]:
    """Refuse impossible inputs; return the warnings (possibly none)."""
    for name, rate in (("maker_fee", instrument.maker_fee), ("taker_fee", instrument.taker_fee)):
        rate = Decimal(str(rate))
        if not rate.is_finite() or rate < 0 or rate >= 1:
            raise ConfigError(name, f"a fee is a fraction of the notional in [0, 1), got {rate}")
    cash, base = Decimal(str(cash)), Decimal(str(base))
    if not cash.is_finite() or cash < 0:
        raise ConfigError("cash", f"must be a non-negative amount, got {cash}")
    if cash == 0 and base <= 0:
        raise ConfigError("cash", "a backtest needs starting capital: cash or base above 0")
    warnings = []
    need = getattr(strategy, "warmup_bars", 1)
    if len(candles) < need:
        warnings.append(
            f"the data has {len(candles)} bars, fewer than the {need} the strategy needs to warm "
            "up: no signal can fire, so the result has no trades"
        )
    zero = int(np.count_nonzero(candles.volume <= 0))
    if zero:
        warnings.append(
            f"{zero} of {len(candles)} bars have zero volume: a market order there fills at the "
            "bar's open although nothing traded"
        )
    return warnings
