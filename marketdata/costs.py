"""What it costs to trade on a venue: the one place cost estimates come from.

`taker_cost(exchange=, symbol=)` is the taker fee fraction a market order pays (0.001 = 0.1%);
`withdrawal_fee(exchange=, asset=)` the flat fee, in the asset, for moving it off the venue, or
None where the venue does not say. `market_rules` gives the tick and lot an order is rounded to.
Every cross-venue estimate (the arbitrage tracker, the arbitrage notifications) asks these
functions and nothing else, so realized costs can replace the quoted ones here alone.

The figures are the venue's own, as ccxt reports them in `load_markets` (market `taker`,
`precision`, and currency `fee` where the venue publishes currencies), read through the one
client module (exchanges.gateway.clients) the way the bot runtime reads them. One load per
venue is kept in Redis for an hour, so the scan workers share it and never call the venue per
scan; a venue that cannot be reached is remembered for a minute and priced at DEFAULT_TAKER_FEE
(the runtime's default for a market that states no fee), the estimate saying so (`fee_source`).

Fee intelligence: where at least k = 5 distinct users' live fills give a market a published
realized taker rate (trading.realized_costs), `taker_cost` plans with it wherever it is worse
than the venue's (`taker_fee_with_realized`, the rule the arbitrage bots' instruments follow);
below k users, or without a rate, the venue's fee stands. The published aggregates are read in
one query per scan (`costs_forget` drops them with the venues) and at most REALIZED_SECONDS old.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

DEFAULT_TAKER_FEE = Decimal("0.001")
DEFAULT_STEP = Decimal("0.00000001")
CACHE_SECONDS = 3600
UNREACHABLE_SECONDS = 60
REALIZED_SECONDS = 60


def cache_key(exchange: str) -> str:
    return f"marketdata:venue-costs:{exchange}"


@dataclass(frozen=True)
class MarketRules:
    """A market's tick and lot, and whether its fee is the venue's own or assumed."""

    tick: Decimal
    lot: Decimal
    fee_source: str  # "venue" | "assumed" | "realized"


def published_taker_cost(*, exchange: str, symbol: str) -> Decimal:
    """The venue's own taker fee fraction (DEFAULT_TAKER_FEE where it states none)."""
    market = _venue(exchange)["markets"].get(symbol) or {}
    fee = _decimal(market.get("taker"))
    return DEFAULT_TAKER_FEE if fee is None else fee


def taker_cost(*, exchange: str, symbol: str) -> Decimal:
    """The taker fee fraction to plan with: the realized one from k users where it is worse
    than the venue's, else the venue's."""
    published = published_taker_cost(exchange=exchange, symbol=symbol)
    if (exchange, symbol) not in _realized_markets():
        return published
    from trading.realized_costs import taker_fee_with_realized

    planned = _realized["planned"]
    if (exchange, symbol, published) not in planned:
        planned[(exchange, symbol, published)] = taker_fee_with_realized(
            exchange=exchange, symbol=symbol, published=published
        )
    return planned[(exchange, symbol, published)]


def withdrawal_fee(*, exchange: str, asset: str) -> Decimal | None:
    """The venue's withdrawal fee for an asset, in the asset; None when not known."""
    return _decimal(_venue(exchange)["withdraw"].get(asset))


def market_rules(*, exchange: str, symbol: str) -> MarketRules:
    """The market's tick and lot (the stored instrument's, else the venue's, else 1e-8)."""
    from marketdata.models import Instrument

    market = _venue(exchange)["markets"].get(symbol) or {}
    row = Instrument.objects.filter(exchange=exchange, symbol=symbol).first()
    tick = (row and row.price_step) or _decimal(market.get("tick")) or DEFAULT_STEP
    lot = (row and row.amount_step) or _decimal(market.get("lot")) or DEFAULT_STEP
    source = "venue" if market.get("taker") is not None else "assumed"
    if taker_cost(exchange=exchange, symbol=symbol) != published_taker_cost(
        exchange=exchange, symbol=symbol
    ):
        source = "realized"
    return MarketRules(tick, lot, source)


def venue_costs_store(*, exchange: str, markets: dict, withdraw: dict, seconds: int) -> dict:
    """Keep a venue's costs ({symbol: {taker, tick, lot}}, {asset: fee}) for `seconds`."""
    entry = {"markets": markets, "withdraw": withdraw}
    _redis().set(cache_key(exchange), json.dumps(entry), ex=seconds)
    return entry


_local: dict[str, dict] = {}  # one scan asks many times: read Redis once per venue and call
_realized: dict = {}  # {"at": monotonic seconds, "markets": {(exchange, symbol)}, "planned": {}}


def costs_forget() -> None:
    """Drop the in-process copies (a new scan reads Redis and the aggregates afresh)."""
    _local.clear()
    _realized.clear()


def _realized_markets() -> set[tuple[str, str]]:
    """The markets with a published realized taker rate (k users or more): one query."""
    import time

    if not _realized or time.monotonic() - _realized["at"] > REALIZED_SECONDS:
        from trading.realized_costs import realized_costs_list

        _realized["markets"] = {
            (row.exchange, row.symbol)
            for row in realized_costs_list()
            if row.liquidity == "taker" and row.fee_rate is not None
        }
        _realized["planned"] = {}  # (exchange, symbol, published) -> the fee to plan with
        _realized["at"] = time.monotonic()
    return _realized["markets"]


def _venue(exchange: str) -> dict:
    if exchange in _local:
        return _local[exchange]
    raw = _redis().get(cache_key(exchange))
    entry = json.loads(raw) if raw else _load(exchange)
    _local[exchange] = entry
    return entry


def _load(exchange: str) -> dict:
    from exchanges import registry
    from exchanges.gateway.clients import sync_client

    if not registry.is_supported(exchange):
        return venue_costs_store(exchange=exchange, markets={}, withdraw={},
                                 seconds=UNREACHABLE_SECONDS)  # fmt: skip
    client = sync_client(exchange, timeout_ms=5_000)
    try:
        raw = client.load_markets()
    except Exception:  # the venue's or the network's: price with the default for a while
        logger.warning("costs of %s not loaded; assuming %s", exchange, DEFAULT_TAKER_FEE,
                       exc_info=True)  # fmt: skip
        return venue_costs_store(exchange=exchange, markets={}, withdraw={},
                                 seconds=UNREACHABLE_SECONDS)  # fmt: skip
    markets = {
        symbol: {
            "taker": _text(m.get("taker")),
            "tick": _text((m.get("precision") or {}).get("price")),
            "lot": _text((m.get("precision") or {}).get("amount")),
        }
        for symbol, m in raw.items()
    }
    withdraw = {
        code: _text(c.get("fee"))
        for code, c in (client.currencies or {}).items()
        if c.get("fee") is not None
    }
    return venue_costs_store(exchange=exchange, markets=markets, withdraw=withdraw,
                             seconds=CACHE_SECONDS)  # fmt: skip


def _text(value) -> str | None:
    return None if value is None else str(value)


def _decimal(value) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)
