"""Fee intelligence, read side: what trading a market actually cost on Peregrine.

The aggregates (trading.models.RealizedCost) come from every user's live fills and are shown
or used only when at least FEE_INTELLIGENCE_MIN_USERS (never fewer than 5) distinct users
contributed: below that, `realized_costs` answers None, exactly as for a market nobody traded.
Nothing here names a user, bot or order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from trading.models import RealizedCost

MIN_USERS_FLOOR = 5


def min_users() -> int:
    """k of the anonymity rule: FEE_INTELLIGENCE_MIN_USERS, refused below 5."""
    k = int(getattr(settings, "FEE_INTELLIGENCE_MIN_USERS", MIN_USERS_FLOOR))
    if k < MIN_USERS_FLOOR:
        raise ImproperlyConfigured(
            f"FEE_INTELLIGENCE_MIN_USERS: must be at least {MIN_USERS_FLOOR}, got {k}"
        )
    return k


@dataclass(frozen=True)
class RealizedCosts:
    """Realized costs of one market and liquidity over the window, from `users` users.

    `fee_rate` is a fraction (0.001 = 10 bp) of the notional; `slippage_bp` is what fills paid
    versus the mid of the book when their order was decided, in basis points (positive: worse
    than the mid). Either is None when no fill of the window could measure it.
    """

    exchange: str
    symbol: str
    liquidity: str
    fee_rate: Decimal | None
    slippage_bp: Decimal | None
    users: int
    fills: int
    notional: Decimal
    window_start: datetime
    window_end: datetime

    @property
    def fee_bp(self) -> Decimal | None:
        return None if self.fee_rate is None else self.fee_rate * 10000

    @property
    def window_days(self) -> float:
        return (self.window_end - self.window_start).total_seconds() / 86400


def _from_row(row: RealizedCost) -> RealizedCosts:
    return RealizedCosts(
        exchange=row.exchange,
        symbol=row.symbol,
        liquidity=row.liquidity,
        fee_rate=row.fee_rate,
        slippage_bp=row.slippage_bp,
        users=row.users,
        fills=row.fills,
        notional=row.notional,
        window_start=row.window_start,
        window_end=row.window_end,
    )


def realized_costs(exchange: str, symbol: str, liquidity: str = "taker") -> RealizedCosts | None:
    """The market's realized fee rate and slippage, or None below k users (or without data)."""
    row = RealizedCost.objects.filter(
        exchange=exchange, symbol=symbol, liquidity=liquidity, users__gte=min_users()
    ).first()
    return None if row is None else _from_row(row)


def realized_costs_list(*, exchange: str | None = None) -> list[RealizedCosts]:
    """Every market's published aggregate (k users or more), by exchange, symbol, liquidity."""
    rows = RealizedCost.objects.filter(users__gte=min_users())
    if exchange is not None:
        rows = rows.filter(exchange=exchange)
    return [_from_row(r) for r in rows.order_by("exchange", "symbol", "liquidity")]


def taker_fee_with_realized(*, exchange: str, symbol: str, published: Decimal) -> Decimal:
    """The taker fee to plan with: the realized rate where it is worse than `published`.

    A realized rate lower than the published one is not used (the published rate is what the
    exchange may charge); below k users there is no realized rate and `published` stands.
    """
    costs = realized_costs(exchange, symbol, "taker")
    if costs is not None and costs.fee_rate is not None and costs.fee_rate > published:
        return costs.fee_rate
    return published


def instruments_with_realized_fees(exchange: str, instruments: dict) -> dict:
    """The instruments with the realized taker fee where it exceeds the published one.

    The bot runtime gives arbitrage bots these instead of the exchange's published fees, so
    their cost estimates are what users really paid on the venue (volume tiers, fees charged
    in base, rounding) whenever that is worse than the fee schedule says
    (`taker_fee_with_realized`). Slippage is not folded in: the arbitrage strategies walk the
    live book for it. A paper venue charges the same rate the strategy plans with.
    """
    out = dict(instruments)
    for symbol, inst in instruments.items():
        fee = taker_fee_with_realized(exchange=exchange, symbol=symbol, published=inst.taker_fee)
        if fee != inst.taker_fee:
            out[symbol] = dataclasses.replace(inst, taker_fee=fee)
    return out
