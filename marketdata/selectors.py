"""Reads of market data. Market data is public to every signed-in user (no owner to scope by)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import redis
from django.conf import settings
from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, QuerySet, Subquery, Value
from django.http import Http404

from marketdata.aggregation import Bar, resample
from marketdata.models import Candle, Instrument
from marketdata.publish import book_key, ticker_key
from marketdata.services.candles import dt_to_ms, ms_to_dt
from marketdata.timeframes import BASE_TIMEFRAME, timeframe_ms


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


# -- the Markets pages ---------------------------------------------------------------------
# A market's page reads the latest ticker and book from Redis and candles from Postgres through
# the candle primary key (exchange, symbol, timeframe, ts): every read below is one index probe
# or one index range, never a scan of the table.

MARKET_CANDLE_LIMIT = 500
MAX_MARKET_CANDLES = 1000


@dataclass(frozen=True)
class Market:
    """One market collected (an Instrument row, or candles without one)."""

    exchange: str
    symbol: str
    price_step: Decimal | None = None
    amount_step: Decimal | None = None

    @property
    def slug(self) -> str:
        """The symbol as it appears in URLs: BTC/USDT -> BTC-USDT."""
        return symbol_to_slug(self.symbol)

    @property
    def price_places(self) -> int:
        """Decimals a price is shown with: the instrument's tick, else 2."""
        return _places(self.price_step, 2)

    @property
    def amount_places(self) -> int:
        return _places(self.amount_step, 6)


def _places(step: Decimal | None, default: int) -> int:
    if not step:
        return default
    return max(0, -step.normalize().as_tuple().exponent)


def symbol_to_slug(symbol: str) -> str:
    return symbol.replace("/", "-", 1)


def symbol_from_slug(slug: str) -> str:
    """BTC-USDT -> BTC/USDT (only the first dash: a base asset never holds one)."""
    return slug.replace("-", "/", 1) if "/" not in slug else slug


def _decimal(value) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _spread(ticker: dict | None) -> tuple[Decimal | None, Decimal | None]:
    """(spread, spread in bp of the mid) from a ticker's bid and ask."""
    if not ticker:
        return None, None
    bid, ask = _decimal(ticker.get("bid")), _decimal(ticker.get("ask"))
    if bid is None or ask is None or bid + ask <= 0:
        return None, None
    spread = ask - bid
    return spread, spread / ((bid + ask) / 2) * 10_000


def _market_pairs() -> list[tuple[str, str]]:
    """Distinct (exchange, symbol) of all candles: a skip scan down the primary key, one index
    probe per market instead of reading every bar (the table holds millions of rows)."""
    table = Candle._meta.db_table
    # the table name is a constant of the model; no user input reaches this statement
    sql = f"""
        WITH RECURSIVE markets AS (
            (SELECT exchange, symbol FROM {table} ORDER BY exchange, symbol LIMIT 1)
            UNION ALL
            SELECT next.exchange, next.symbol FROM markets, LATERAL (
                SELECT c.exchange, c.symbol FROM {table} c
                WHERE (c.exchange, c.symbol) > (markets.exchange, markets.symbol)
                ORDER BY c.exchange, c.symbol LIMIT 1
            ) next
        )
        SELECT exchange, symbol FROM markets
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]


def market_list() -> list[dict]:
    """Every market collected, with its last price and spread from the live ticker.

    Rows: {"market": Market, "ticker": dict | None, "last": Decimal | None, "spread",
    "spread_bp"}; ordered by exchange, then symbol.
    """
    markets = {
        (i.exchange, i.symbol): Market(i.exchange, i.symbol, i.price_step, i.amount_step)
        for i in Instrument.objects.all()
    }
    for pair in _market_pairs():
        markets.setdefault(pair, Market(*pair))
    ordered = [markets[key] for key in sorted(markets)]
    tickers = market_tickers_get(markets=ordered)
    rows = []
    for market, ticker in zip(ordered, tickers, strict=True):
        spread, spread_bp = _spread(ticker)
        last = _decimal((ticker or {}).get("last"))
        rows.append(
            {"market": market, "ticker": ticker, "last": last, "spread": spread,
             "spread_bp": spread_bp}
        )  # fmt: skip
    return rows


def market_tickers_get(*, markets: list[Market]) -> list[dict | None]:
    """The latest tickers of many markets in one Redis round trip (MGET)."""
    if not markets:
        return []
    raws = _redis().mget([ticker_key(m.exchange, m.symbol) for m in markets])
    return [json.loads(raw) if raw else None for raw in raws]


def market_get(*, exchange: str, symbol: str) -> Market:
    """The market, from its Instrument row or its candles; Http404 when neither exists."""
    instrument = Instrument.objects.filter(exchange=exchange, symbol=symbol).first()
    if instrument is not None:
        return Market(exchange, symbol, instrument.price_step, instrument.amount_step)
    if Candle.objects.filter(exchange=exchange, symbol=symbol).exists():
        return Market(exchange, symbol)
    raise Http404("No such market.")


def market_summary(*, market: Market) -> dict:
    """Ticker figures of one market: last, 24h change, bid, ask, spread.

    The last price is the live ticker's, else the latest 1m close; the 24h change compares it
    with the close of the 1m bar 24 h before the latest bar. One query: two index probes.
    """
    ticker = market_ticker_get(exchange=market.exchange, symbol=market.symbol)
    bars = Candle.objects.filter(
        exchange=market.exchange, symbol=market.symbol, timeframe=BASE_TIMEFRAME
    )
    newest = bars.order_by("-ts").values_list("ts", "close")[:1]
    newest_ts = Subquery(bars.order_by("-ts").values("ts")[:1])
    day_ago = ExpressionWrapper(
        newest_ts - Value(timedelta(hours=24)), output_field=DateTimeField()
    )
    reference = bars.filter(ts__lte=day_ago).order_by("-ts").values_list("ts", "close")[:1]
    rows = sorted(newest.union(reference, all=True))
    last_close = rows[-1][1] if rows else None
    day_close = rows[0][1] if len(rows) == 2 else None
    last = _decimal((ticker or {}).get("last")) or last_close
    change = change_pct = None
    if last is not None and day_close:
        change = last - day_close
        change_pct = change / day_close * 100
    spread, spread_bp = _spread(ticker)
    return {
        "ticker": ticker,
        "last": last,
        "bid": _decimal((ticker or {}).get("bid")),
        "ask": _decimal((ticker or {}).get("ask")),
        "spread": spread,
        "spread_bp": spread_bp,
        "change": change,
        "change_pct": change_pct,
        "day_close": day_close,
        "last_bar_at": rows[-1][0] if rows else None,
    }


def market_candles(*, market: Market, timeframe: str, limit: int = MARKET_CANDLE_LIMIT) -> list:
    """The latest `limit` bars of a timeframe, oldest first, as Bar tuples of Decimals.

    Stored bars are read directly (one backward range on the primary key); a timeframe with
    no stored bars is resampled from the 1m bars. ValueError for an unknown timeframe.
    """
    step = timeframe_ms(timeframe)
    limit = max(1, min(limit, MAX_MARKET_CANDLES))
    bars = _latest_bars(market, timeframe, limit)
    if bars or timeframe == BASE_TIMEFRAME:
        return bars
    per_bar = step // timeframe_ms(BASE_TIMEFRAME)
    wanted = min(limit * per_bar, 50_000)
    minutes = _latest_bars(market, BASE_TIMEFRAME, wanted)
    bars = resample(minutes, timeframe)
    if len(minutes) == wanted and bars:  # the oldest bar may have been cut: never show it short
        bars = bars[1:]
    return bars[-limit:]


def _latest_bars(market: Market, timeframe: str, limit: int) -> list[Bar]:
    rows = (
        Candle.objects.filter(exchange=market.exchange, symbol=market.symbol, timeframe=timeframe)
        .order_by("-ts")
        .values_list("ts", "open", "high", "low", "close", "volume", "trade_count")[:limit]
    )
    return [Bar(dt_to_ms(ts), o, h, low, c, v, n or 0) for ts, o, h, low, c, v, n in rows][::-1]


def market_book_ladder(*, market: Market, depth: int = 20) -> dict:
    """The live book as a ladder: each side best first with size and cumulative size.

    {"bids": [{"price", "size", "total"}...], "asks": [...], "ts": ms | None, "max_total"}.
    """
    book = market_book_get(exchange=market.exchange, symbol=market.symbol) or {}
    sides = {}
    for side in ("bids", "asks"):
        total = Decimal(0)
        levels = []
        for level in (book.get(side) or [])[:depth]:
            price, size = _decimal(level[0]), _decimal(level[1])
            if price is None or size is None:
                continue
            total += size
            levels.append({"price": price, "size": size, "total": total})
        sides[side] = levels
    max_total = max([lv["total"] for lv in sides["bids"] + sides["asks"]], default=Decimal(0))
    for level in sides["bids"] + sides["asks"]:  # the depth bar behind each row, in percent
        level["depth_pct"] = round(level["total"] / max_total * 100, 1)
    return {**sides, "ts": book.get("ts"), "max_total": max_total}


def decimal_text(value) -> str:
    """An exact decimal without exponent or trailing zeros: 10.500 -> '10.5'."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def candle_json(bar) -> dict:
    """A bar as the charts take it: UTC seconds and exact decimal strings."""
    return {
        "time": bar.ts_ms // 1000,  # lightweight-charts takes UTC seconds
        "open": decimal_text(bar.open),
        "high": decimal_text(bar.high),
        "low": decimal_text(bar.low),
        "close": decimal_text(bar.close),
        "volume": decimal_text(bar.volume),
    }


# -- the arbitrage tracker -----------------------------------------------------------------
# The worker's scans (marketdata.services.arbitrage) are read here; nothing is priced in a
# request. Two queries: the latest scan's rows for the size, and the last hour's episodes.

ARBITRAGE_HISTORY = timedelta(hours=1)


@dataclass(frozen=True)
class ArbitrageEpisode:
    """A run of scans in which one (kind, market, venues, size) kept a positive net edge."""

    kind: str
    market: str
    buy_exchange: str
    sell_exchange: str
    opened_at: object  # datetime
    last_seen_at: object
    best_net_bp: Decimal
    best_net_usdt: Decimal
    scans: int

    @property
    def seconds(self) -> float:
        return (self.last_seen_at - self.opened_at).total_seconds()

    @property
    def key(self) -> tuple:
        return (self.kind, self.market, self.buy_exchange, self.sell_exchange)


def arbitrage_board(*, size: Decimal, now=None) -> dict:
    """The latest scan for `size` (USDT) with each row's age and how long similar edges lasted.

    {"scanned_at", "rows": [{"s": ArbitrageSighting, "age_seconds", "lasted_median_seconds",
    "lasted_count"}], "episodes": [ArbitrageEpisode] (the last hour, newest first), "size"}.
    "Similar" is the same kind, market, venues and size: its earlier runs of positive net edge
    in the last hour (the current run excluded).
    """
    from django.utils import timezone

    from marketdata.models import ArbitrageSighting

    now = now or timezone.now()
    sightings = ArbitrageSighting.objects.filter(size=size)
    latest = sightings.order_by("-scanned_at").values_list("scanned_at", flat=True).first()
    episodes = _arbitrage_episodes(sightings.filter(scanned_at__gte=now - ARBITRAGE_HISTORY))
    rows = []
    if latest is not None:
        for s in sightings.filter(scanned_at=latest).order_by("-net_bp", "market"):
            key = (s.kind, s.market, s.buy_exchange, s.sell_exchange)
            past = sorted(
                e.seconds for e in episodes if e.key == key and e.opened_at != s.opened_at
            )
            rows.append({
                "s": s,
                "age_seconds": _age(s),
                "lasted_median_seconds": _median(past),
                "lasted_count": len(past),
            })  # fmt: skip
    return {
        "scanned_at": latest, "rows": rows, "episodes": episodes[:30], "size": size,
        "positive": any(r["s"].net_bp > 0 for r in rows),
        "other": any(r["s"].net_bp <= 0 for r in rows),
        "interval": settings.PEREGRINE_ARBITRAGE_SCAN_SECONDS,
    }  # fmt: skip


def _arbitrage_episodes(qs) -> list[ArbitrageEpisode]:
    from django.db.models import Count, Max

    grouped = (
        qs.filter(opened_at__isnull=False)
        .values("kind", "market", "buy_exchange", "sell_exchange", "opened_at")
        .annotate(last=Max("scanned_at"), best=Max("net_bp"), usdt=Max("net_usdt"), n=Count("pk"))
        .order_by("-opened_at", "market")
    )
    return [
        ArbitrageEpisode(g["kind"], g["market"], g["buy_exchange"], g["sell_exchange"],
                         g["opened_at"], g["last"], g["best"], g["usdt"], g["n"])
        for g in grouped
    ]  # fmt: skip


def _age(sighting) -> float | None:
    if sighting.opened_at is None:
        return None
    return (sighting.scanned_at - sighting.opened_at).total_seconds()


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
