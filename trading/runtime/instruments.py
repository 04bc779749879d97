"""Instruments of the markets a bot trades: precision, limits and fees from the exchange.

Loaded once an hour per exchange and symbol (the markets of an exchange rarely change), shared
by every runner of the process.
"""

from __future__ import annotations

import time
from decimal import Decimal

from tradecore.domain import ZERO, Instrument

DEFAULT_FEE = Decimal("0.001")
_instrument_cache: dict[tuple[str, str], tuple[float, Instrument]] = {}
INSTRUMENT_TTL_SECONDS = 3600


def instrument_from_market(symbol: str, info, raw: dict | None) -> Instrument:
    raw = raw or {}
    maker = raw.get("maker")
    taker = raw.get("taker")
    return Instrument(
        symbol,
        info.base,
        info.quote,
        info.price_step or Decimal("0.00000001"),
        info.amount_step or Decimal("0.00000001"),
        info.min_cost or ZERO,
        DEFAULT_FEE if maker is None else Decimal(str(maker)),
        DEFAULT_FEE if taker is None else Decimal(str(taker)),
    )


async def load_instruments(gateway, symbols: list[str]) -> dict[str, Instrument]:
    """The symbols' precision, limits and fees from the exchange (cached for an hour)."""
    now = time.monotonic()
    out, missing = {}, []
    for symbol in symbols:
        cached = _instrument_cache.get((gateway.exchange_id, symbol))
        if cached and now - cached[0] < INSTRUMENT_TTL_SECONDS:
            out[symbol] = cached[1]
        else:
            missing.append(symbol)
    if missing:
        infos = await gateway.load_markets()
        for symbol in missing:
            if symbol not in infos:
                raise ValueError(f"{gateway.exchange_id} has no market {symbol}")
            inst = instrument_from_market(symbol, infos[symbol], gateway.client.markets.get(symbol))
            _instrument_cache[(gateway.exchange_id, symbol)] = (now, inst)
            out[symbol] = inst
    return out
