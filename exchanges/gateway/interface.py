"""The small interface the runtime uses to talk to an exchange, whatever the adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from tradecore.domain import OrderStatus


@dataclass(frozen=True)
class MarketInfo:
    """A market's precision and limits, as Decimal."""

    symbol: str
    base: str
    quote: str
    price_step: Decimal | None
    amount_step: Decimal | None
    min_amount: Decimal | None
    min_cost: Decimal | None
    active: bool = True


@dataclass(frozen=True)
class ExchangeOrder:
    """An order as the exchange reports it (or UNKNOWN when creation's outcome is open)."""

    client_order_id: str
    symbol: str
    side: str
    type: str
    status: OrderStatus
    amount: Decimal
    price: Decimal | None = None
    exchange_order_id: str | None = None
    filled: Decimal = Decimal(0)
    average: Decimal | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    timestamp: int | None = None
    reason: str = ""
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class ExchangeTrade:
    trade_id: str
    order_id: str | None
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    fee: Decimal | None
    fee_currency: str | None
    liquidity: str | None
    timestamp: int


@dataclass(frozen=True)
class BalanceLine:
    asset: str
    free: Decimal
    used: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.used


class ExchangeGateway(Protocol):
    exchange_id: str

    async def load_markets(self, *, reload: bool = False) -> dict[str, MarketInfo]: ...

    async def create_order(
        self,
        *,
        symbol: str,
        side: str,
        type: str,
        amount: Decimal,
        price: Decimal | None = None,
        client_order_id: str,
    ) -> ExchangeOrder: ...

    async def cancel_order(
        self,
        *,
        symbol: str,
        client_order_id: str | None = None,
        exchange_order_id: str | None = None,
    ) -> ExchangeOrder: ...

    async def fetch_order(
        self,
        *,
        symbol: str,
        client_order_id: str | None = None,
        exchange_order_id: str | None = None,
    ) -> ExchangeOrder: ...

    async def fetch_open_orders(self, *, symbol: str | None = None) -> list[ExchangeOrder]: ...

    async def fetch_balance(self) -> dict[str, BalanceLine]: ...

    async def fetch_my_trades(
        self, *, symbol: str, since: int | None = None, limit: int | None = None
    ) -> list[ExchangeTrade]: ...

    async def fetch_order_book(self, *, symbol: str, limit: int | None = None) -> dict: ...

    async def fetch_ticker(self, *, symbol: str) -> dict: ...

    async def fetch_ohlcv(
        self, *, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[list]: ...

    async def close(self) -> None: ...
