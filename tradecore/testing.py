"""Small factories for tests of code built on tradecore (no I/O at import)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from tradecore.domain import Instrument


def instrument(
    symbol: str = "BTC-USDT",
    tick: str = "0.01",
    lot: str = "0.001",
    min_notional: str = "10",
    maker: str = "0.001",
    taker: str = "0.002",
) -> Instrument:
    """An instrument with readable defaults; the symbol is split on '-' into base and quote."""
    base, quote = symbol.split("-")
    return Instrument(
        symbol, base, quote, Decimal(tick), Decimal(lot), Decimal(min_notional),
        Decimal(maker), Decimal(taker),
    )  # fmt: skip


def data_dir(repo_root: Path) -> Path:
    """Where shared market data lives: $PEREGRINE_DATA_DIR or ../shared/data from the repo."""
    return Path(os.environ.get("PEREGRINE_DATA_DIR", repo_root.parent / "shared" / "data"))
