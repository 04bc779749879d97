"""Latest prices from the market-data fan-out in Redis (`market:{exchange}:{symbol}:ticker`).

The mark is the mid of the best bid and ask when both are known, else the last trade; without
a ticker the top of the stored book is used. Values are exact Decimals of what was published.
"""

from __future__ import annotations

import json
from decimal import Decimal

import redis
from django.conf import settings

from marketdata.publish import book_key, ticker_key

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return _client


def _decimal(value) -> Decimal | None:
    if value is None:
        return None
    number = Decimal(str(value))
    return number if number.is_finite() and number > 0 else None


def _from_ticker(raw: bytes | None) -> Decimal | None:
    if not raw:
        return None
    data = json.loads(raw)
    bid, ask = _decimal(data.get("bid")), _decimal(data.get("ask"))
    if bid is not None and ask is not None:
        return (bid + ask) / 2
    return _decimal(data.get("last"))


def _from_book(raw: bytes | None) -> Decimal | None:
    if not raw:
        return None
    data = json.loads(raw)
    bids, asks = data.get("bids") or [], data.get("asks") or []
    if bids and asks:
        bid, ask = _decimal(bids[0][0]), _decimal(asks[0][0])
        if bid is not None and ask is not None:
            return (bid + ask) / 2
    return None


def latest_marks(pairs) -> dict[tuple[str, str], Decimal]:
    """Mark per (exchange, symbol) for the pairs that have one, in one Redis round trip."""
    ordered = sorted(set(pairs))
    if not ordered:
        return {}
    keys = [ticker_key(e, s) for e, s in ordered] + [book_key(e, s) for e, s in ordered]
    try:
        values = _redis().mget(keys)
    except redis.RedisError:
        return {}
    marks = {}
    for index, pair in enumerate(ordered):
        mark = _from_ticker(values[index]) or _from_book(values[index + len(ordered)])
        if mark is not None:
            marks[pair] = mark
    return marks
