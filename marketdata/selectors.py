"""Reads of market data. Market data is public to every signed-in user (no owner to scope by)."""

from __future__ import annotations

import json

import redis
from django.conf import settings
from django.db.models import QuerySet

from marketdata.models import Candle, Instrument
from marketdata.publish import book_key, ticker_key
from marketdata.services.candles import ms_to_dt


def candle_list(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 500,
) -> QuerySet[Candle]:
    """Bars of one market and timeframe in [start, end), oldest first; the latest `limit`
    when no start is given."""
    qs = Candle.objects.filter(exchange=exchange, symbol=symbol, timeframe=timeframe)
    if end_ms is not None:
        qs = qs.filter(ts__lt=ms_to_dt(end_ms))
    if start_ms is not None:
        return qs.filter(ts__gte=ms_to_dt(start_ms)).order_by("ts")[:limit]
    newest = qs.order_by("-ts").values_list("ts", flat=True)[limit - 1 : limit].first()
    return (qs.filter(ts__gte=newest) if newest else qs).order_by("ts")


def instrument_list(*, exchange: str | None = None) -> QuerySet[Instrument]:
    qs = Instrument.objects.all()
    return qs.filter(exchange=exchange) if exchange else qs


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def market_ticker_get(*, exchange: str, symbol: str) -> dict | None:
    """The latest ticker the collector stored, or None."""
    raw = _redis().get(ticker_key(exchange, symbol))
    return json.loads(raw) if raw else None


def market_book_get(*, exchange: str, symbol: str) -> dict | None:
    """The latest top-20 book the collector stored, or None."""
    raw = _redis().get(book_key(exchange, symbol))
    return json.loads(raw) if raw else None
