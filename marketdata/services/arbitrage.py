"""The arbitrage scan: price every cross-venue spread and triangle in the live books, keep an hour.

Runs in a worker (marketdata.tasks.arbitrage_spread_scan_task, on beat), never in a request.
One scan reads the collectors' latest books from Redis (one MGET), prices each market quoted on
two or more venues in both directions and every triangle a venue has (marketdata.spreads, the
arbitrage strategies' math, with marketdata.costs' fee estimates), for each size wanted: the
configured sizes and the sizes users asked for lately (`arbitrage_size_request`). Per market
and venue pair it keeps the better direction. Rows go to ArbitrageSighting with `opened_at`
carried over from the previous scan while the net edge stays positive; rows past the retention
are deleted; the page's group hears that a scan is done.

A book older than STALE_AFTER_MS, crossed, or without a side is not priced (a collector that
stopped must not show a phantom edge).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import redis
from django.conf import settings
from django.db import transaction

from marketdata import costs
from marketdata.models import ArbitrageSighting
from marketdata.publish import book_key
from marketdata.spreads import HOME, BookContext, Edge, spatial_edge, triangles, triangular_edges
from tradecore.domain import Instrument
from tradecore.orderbook import OrderBook

STALE_AFTER_MS = 10_000
RETENTION = timedelta(minutes=65)
ARBITRAGE_GROUP = "arbitrage"
SIZES_KEY = "marketdata:arbitrage:sizes"
SIZE_REQUEST_SECONDS = 600
MAX_REQUESTED_SIZES = 8
MAX_SIZE = Decimal("10000000")


class SizeError(ValueError):
    """A size the tracker cannot price (the message says why, for the user)."""


def arbitrage_size_parse(value: str | None) -> Decimal:
    """A user's size in USDT from text: a positive number up to MAX_SIZE, two decimals at most."""
    text = (value or "").strip().replace(",", "")
    if not text:
        return default_size()
    try:
        size = Decimal(text)
    except ArithmeticError:
        raise SizeError(f"Size must be a number of USDT, e.g. 1000 (got {value!r}).") from None
    if not size.is_finite() or size <= 0:
        raise SizeError("Size must be more than 0 USDT.")
    if size > MAX_SIZE:
        raise SizeError(f"Size must be at most {MAX_SIZE:,} USDT.")
    if size != size.quantize(Decimal("0.01")):
        raise SizeError("Size must have at most two decimals (cents of a USDT).")
    return size.quantize(Decimal("0.01")).normalize() + 0  # 1000.00 -> 1E+3 -> 1000


def default_size() -> Decimal:
    return Decimal(settings.PEREGRINE_ARBITRAGE_SIZES[0])


def arbitrage_size_request(*, size: Decimal) -> None:
    """Ask the scan to price `size` too, for the next SIZE_REQUEST_SECONDS."""
    client = _redis()
    client.zadd(SIZES_KEY, {_size_text(size): time.time()})
    client.expire(SIZES_KEY, SIZE_REQUEST_SECONDS)


def arbitrage_sizes() -> list[Decimal]:
    """The configured sizes and the latest MAX_REQUESTED_SIZES sizes asked for lately."""
    client = _redis()
    client.zremrangebyscore(SIZES_KEY, 0, time.time() - SIZE_REQUEST_SECONDS)
    asked = client.zrevrange(SIZES_KEY, 0, MAX_REQUESTED_SIZES - 1)
    sizes = {Decimal(s) for s in settings.PEREGRINE_ARBITRAGE_SIZES}
    sizes.update(Decimal(raw.decode()) for raw in asked)
    return sorted(sizes)


def arbitrage_scan(
    *,
    markets: dict[str, list[str]],
    sizes: list[Decimal],
    now: datetime | None = None,
) -> list[ArbitrageSighting]:
    """Price the markets' live books for each size, store the sightings, prune, announce."""
    now = now or datetime.now(UTC)
    costs.costs_forget()
    books = live_books(markets=markets, now_ms=int(now.timestamp() * 1000))
    instruments, assumed = _instruments(books)
    ctx = BookContext(books, instruments)
    rows = []
    for size in sizes:
        rows += [_row(e, size, now, fx, assumed) for e, fx in edges_for_size(ctx, size=size)]
    with transaction.atomic():
        _carry_open(rows, now)
        ArbitrageSighting.objects.bulk_create(rows)
        ArbitrageSighting.objects.filter(scanned_at__lt=now - RETENTION).delete()
    transaction.on_commit(lambda: _announce(now))
    return rows


def cross_venue_edges(
    *, markets: dict[str, list[str]], size: Decimal, now_ms: int | None = None
) -> list[Edge]:
    """The live cross-venue spreads of the markets for one size (USDT), priced as the scan
    prices them (better direction per market and venue pair), without storing anything."""
    costs.costs_forget()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    books = live_books(markets=markets, now_ms=now_ms)
    ctx = BookContext(books, _instruments(books)[0])
    return [e for e, _fx in edges_for_size(ctx, size=size) if e.kind == "spatial"]


def edges_for_size(ctx: BookContext, *, size: Decimal) -> list[tuple[Edge, Decimal]]:
    """Every spread (better direction per market and venue pair) and triangle for one size in
    USDT, each with the USDT value of its quote asset; markets whose quote has no USDT price
    in the books are left out."""
    by_symbol: dict[str, list[str]] = {}
    for venue, symbol in sorted(ctx.books):
        by_symbol.setdefault(symbol, []).append(venue)
    found = []
    for symbol, venues in by_symbol.items():
        fx = usdt_value(ctx, asset=symbol.split("/")[1])
        if fx is None:
            continue
        for i, a in enumerate(venues):
            for b in venues[i + 1 :]:
                both = [e for e in (_spatial(ctx, symbol, a, b, size / fx),
                                    _spatial(ctx, symbol, b, a, size / fx)) if e]  # fmt: skip
                if both:
                    found.append((max(both, key=lambda e: e.net_edge), fx))
    for venue in sorted({v for v, _ in ctx.books}):
        symbols = [s for v, s in ctx.books if v == venue]
        venue_ctx = BookContext(ctx.books, ctx.instruments, venue=venue)
        for legs in triangles(symbols, HOME):
            found += [(e, Decimal(1)) for e in triangular_edges(venue_ctx, legs=legs, size=size)]
    return found


def usdt_value(ctx: BookContext, *, asset: str) -> Decimal | None:
    """One unit of `asset` in USDT: 1 for USDT, else the mid of asset/USDT on the first venue
    that has a book of it."""
    if asset == HOME:
        return Decimal(1)
    for (_venue, symbol), book in sorted(ctx.books.items()):
        if symbol == f"{asset}/{HOME}" and book.mid() is not None:
            return book.mid()
    return None


def live_books(*, markets: dict[str, list[str]], now_ms: int) -> dict:
    """{(venue, symbol): OrderBook} of the fresh, uncrossed, two-sided collector books."""
    keys = [(venue, symbol) for venue, symbols in markets.items() for symbol in symbols]
    if not keys:
        return {}
    raws = _redis().mget([book_key(v, s) for v, s in keys])
    books = {}
    for key, raw in zip(keys, raws, strict=True):
        data = json.loads(raw) if raw else None
        if not data or now_ms - int(data.get("ts") or 0) > STALE_AFTER_MS:
            continue
        book = OrderBook(key[1], data.get("bids") or [], data.get("asks") or [], int(data["ts"]))
        if book.best_bid() is not None and book.best_ask() is not None and not book.is_crossed():
            books[key] = book
    return books


def _instruments(books: dict) -> tuple[dict, set]:
    """The books' instruments (fees from marketdata.costs) and the markets whose fee is assumed."""
    out, assumed = {}, set()
    for venue, symbol in books:
        rules = costs.market_rules(exchange=venue, symbol=symbol)
        if rules.fee_source == "assumed":
            assumed.add((venue, symbol))
        base, quote = symbol.split("/", 1)
        fee = costs.taker_cost(exchange=venue, symbol=symbol)
        out[(venue, symbol)] = Instrument(symbol, base, quote, rules.tick, rules.lot,
                                          maker_fee=fee, taker_fee=fee)  # fmt: skip
    return out, assumed


def _spatial(ctx, symbol, buy, sell, size) -> Edge | None:
    base = symbol.split("/", 1)[0]
    fee = costs.withdrawal_fee(exchange=buy, asset=base)
    return spatial_edge(ctx, symbol=symbol, buy_venue=buy, sell_venue=sell, size=size,
                        withdrawal_fee=fee)  # fmt: skip


def _row(edge: Edge, size: Decimal, now: datetime, fx: Decimal, assumed_fees: set):
    assumed = any(key in assumed_fees for key in _markets_of(edge))
    return ArbitrageSighting(
        scanned_at=now, kind=edge.kind, market=edge.market, buy_exchange=edge.buy_venue,
        sell_exchange=edge.sell_venue, size=size, quote=edge.quote, qty=edge.qty,
        buy_price=edge.buy_price, sell_price=edge.sell_price, cost=edge.cost,
        gross_bp=_bp(edge.gross_bp), net_bp=_bp(edge.net_bp), fee_bp=_bp(edge.fee_bp),
        net_usdt=edge.profit * fx,
        withdrawal_usdt=None if edge.withdrawal is None else edge.withdrawal * fx,
        fee_source="assumed" if assumed else "venue",
    )  # fmt: skip


def _markets_of(edge: Edge) -> list[tuple[str, str]]:
    if edge.kind == "spatial":
        return [(edge.buy_venue, edge.market), (edge.sell_venue, edge.market)]
    home, x, y = edge.market.split(" → ")[:3]  # either direction: all pairs of the three
    pairs = (f"{x}/{home}", f"{y}/{home}", f"{x}/{y}", f"{y}/{x}")
    return [(edge.buy_venue, s) for s in pairs]


def _bp(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"))


def sighting_key(row) -> tuple:
    return (row.kind, row.market, row.buy_exchange, row.sell_exchange, row.size)


def _carry_open(rows: list[ArbitrageSighting], now: datetime) -> None:
    """Give each positive row the `opened_at` of its run: the previous scan's when that scan
    (no older than three intervals) saw the same key positive, else this scan's time."""
    window = now - timedelta(seconds=3 * settings.PEREGRINE_ARBITRAGE_SCAN_SECONDS)
    last = (
        ArbitrageSighting.objects.filter(scanned_at__lt=now, scanned_at__gte=window)
        .order_by("-scanned_at")
        .values_list("scanned_at", flat=True)
        .first()
    )
    previous = {}
    if last is not None:
        for row in ArbitrageSighting.objects.filter(scanned_at=last, opened_at__isnull=False):
            previous[sighting_key(row)] = row.opened_at
    for row in rows:
        if row.net_bp > 0:
            row.opened_at = previous.get(sighting_key(row), now)


def _announce(scanned_at: datetime) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is not None:
        message = {"type": "scan.done", "scanned_at": scanned_at.isoformat()}
        async_to_sync(layer.group_send)(ARBITRAGE_GROUP, message)


def _size_text(size: Decimal) -> str:
    return f"{size:f}"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)
