"""Instruments per exchange, from ccxt's load_markets (precision and limits as Decimal)."""

from __future__ import annotations

from django.db import transaction

from exchanges.gateway.ccxt_gateway import CcxtGateway
from marketdata.models import Instrument


@transaction.atomic
def instrument_sync(*, exchange: str, markets: dict) -> int:
    """Upsert the exchange's markets (gateway MarketInfo by symbol); mark vanished ones inactive."""
    for info in markets.values():
        Instrument.objects.update_or_create(
            exchange=exchange,
            symbol=info.symbol,
            defaults={
                "base": info.base,
                "quote": info.quote,
                "price_step": info.price_step,
                "amount_step": info.amount_step,
                "min_amount": info.min_amount,
                "min_cost": info.min_cost,
                "active": info.active,
            },
        )
    Instrument.objects.filter(exchange=exchange).exclude(symbol__in=list(markets)).update(
        active=False
    )
    return len(markets)


async def instrument_load(*, exchange: str, sandbox_url: str | None = None) -> dict:
    """Load an exchange's markets through the gateway (public access)."""
    async with CcxtGateway(exchange, sandbox_url=sandbox_url) as gateway:
        return await gateway.load_markets(reload=True)
