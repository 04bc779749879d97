"""Trades and order books from the shared data files ($PEREGRINE_DATA_DIR), for backtests.

The platform stores candles, not ticks: trades and books come from the data folder's files,
read here into tradecore's Trade and OrderBook. `TICK_FILES` names the files this loader knows
(market, kind, format); a file absent from the folder is simply not offered. What a market
has is told by `tick_sources` (first and last event, rows), so a period is picked from what
exists, and `tick_gaps` lists the quiet stretches inside a period (no event for longer than a
threshold), which a run reports with its results.

Kinds: "trades" (public trades, the aggressor's side) and "book" (order-book snapshots; a
best bid/ask file is a book of one level a side, with its sizes).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from django.conf import settings

from tradecore.domain import Side, Trade
from tradecore.orderbook import OrderBook

KINDS = ("trades", "book")


@dataclass(frozen=True)
class TickFile:
    exchange: str
    symbol: str
    kind: str
    path: str  # inside the data folder
    format: str


TICK_FILES = (
    TickFile("binance", "BTC/USDT", "trades", "ticks/binance_BTC-USDT_trades_20210108.csv.gz",
             "binance_trades"),
    TickFile("binance", "BTC/USDT", "book", "ticks/binance_BTC-USDT_quotes_20210108.csv.gz",
             "best_bid_ask"),
    TickFile("binance", "XRP/ETH", "trades", "ticks/binance_XRP-ETH_trades_20191011.csv.gz",
             "ccxt_trades"),
    TickFile("kraken", "BTC/USDT", "trades", "ticks/kraken_BTC-USDT_trades_20251110.csv.gz",
             "kraken_trades"),
)  # fmt: skip


@dataclass(frozen=True)
class TickSource:
    """One file's market, kind and span (epoch ms of its first and last event)."""

    exchange: str
    symbol: str
    kind: str
    first_ms: int
    last_ms: int
    rows: int
    path: str

    @property
    def first(self) -> datetime:
        return datetime.fromtimestamp(self.first_ms / 1000, tz=UTC)

    @property
    def last(self) -> datetime:
        return datetime.fromtimestamp(self.last_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class QuietGap:
    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


def _full_path(entry: TickFile) -> Path:
    return Path(settings.PEREGRINE_DATA_DIR) / entry.path


def tick_sources(*, exchange: str | None = None, symbol: str | None = None) -> list[TickSource]:
    """The trades and book files present in the data folder, with their spans."""
    out = []
    for entry in TICK_FILES:
        if (exchange and entry.exchange != exchange) or (symbol and entry.symbol != symbol):
            continue
        path = _full_path(entry)
        if not path.is_file():
            continue
        stamps = _stamps(str(path), path.stat().st_mtime_ns, entry.format)
        if stamps:
            out.append(TickSource(entry.exchange, entry.symbol, entry.kind, stamps[0],
                                  stamps[-1], len(stamps), entry.path))  # fmt: skip
    return out


def tick_source(*, exchange: str, symbol: str, kind: str) -> TickSource | None:
    """The file of one market and kind, if the data folder has it."""
    found = [s for s in tick_sources(exchange=exchange, symbol=symbol) if s.kind == kind]
    return found[0] if found else None


def tick_trades_load(*, exchange: str, symbol: str, start_ms: int, end_ms: int) -> list[Trade]:
    """The market's trades in [start, end), oldest first (tradecore's Trade)."""
    return [t for t in _load(exchange, symbol, "trades") if start_ms <= t.ts_ms < end_ms]


def tick_books_load(*, exchange: str, symbol: str, start_ms: int, end_ms: int) -> list[OrderBook]:
    """The market's book snapshots in [start, end), oldest first (tradecore's OrderBook)."""
    return [b for b in _load(exchange, symbol, "book") if start_ms <= b.ts_ms < end_ms]


def tick_gaps(stamps: list[int], *, start_ms: int, end_ms: int, quiet_ms: int) -> list[QuietGap]:
    """Stretches of [start, end) longer than `quiet_ms` with no event: before the first, between
    two, after the last (the file's data simply stops)."""
    points = [start_ms, *stamps, end_ms]
    return [QuietGap(a, b) for a, b in zip(points, points[1:], strict=False) if b - a > quiet_ms]


def tick_fingerprint(*, exchange: str, symbol: str, kinds: tuple[str, ...]) -> str:
    """sha256 of the files read for these kinds, in order (a rerun on other bytes differs)."""
    digest = hashlib.sha256()
    for kind in kinds:
        source = tick_source(exchange=exchange, symbol=symbol, kind=kind)
        if source is not None:
            digest.update(kind.encode())
            digest.update((Path(settings.PEREGRINE_DATA_DIR) / source.path).read_bytes())
    return digest.hexdigest()


def _entry(exchange: str, symbol: str, kind: str) -> TickFile:
    for entry in TICK_FILES:
        if (entry.exchange, entry.symbol, entry.kind) == (exchange, symbol, kind):
            if _full_path(entry).is_file():
                return entry
    raise FileNotFoundError(f"no {kind} file for {exchange} {symbol} in the data folder")


def _load(exchange: str, symbol: str, kind: str) -> list:
    entry = _entry(exchange, symbol, kind)
    path = _full_path(entry)
    return _parsed(str(path), path.stat().st_mtime_ns, entry.format, symbol)


def _rows(path: str):
    with gzip.open(path, "rt", newline="") as fh:
        yield from csv.DictReader(fh)


@cache
def _stamps(path: str, _mtime: int, fmt: str) -> list[int]:
    return [int(row["timestamp_ms"]) for row in _rows(path)]


@cache
def _parsed(path: str, _mtime: int, fmt: str, symbol: str) -> list:
    """A file's events, parsed once per version of the file (they are immutable values)."""
    events = [PARSERS[fmt](row, symbol) for row in _rows(path)]
    events.sort(key=lambda e: e.ts_ms)  # stable: same-millisecond events keep file order
    return events


def _binance_trade(row: dict, symbol: str) -> Trade:
    # buyer_maker: the buyer's order rested, so the aggressor sold
    side = Side.SELL if row["buyer_maker"] == "True" else Side.BUY
    return Trade(int(row["timestamp_ms"]), float(row["price"]), float(row["quantity"]), side,
                 row["trade_id"])  # fmt: skip


def _ccxt_trade(row: dict, symbol: str) -> Trade:
    return Trade(int(row["timestamp_ms"]), float(row["price"]), float(row["amount"]),
                 Side(row["side"]), row["trade_id"])  # fmt: skip


def _kraken_trade(row: dict, symbol: str) -> Trade:
    side = Side.BUY if row["side"] == "b" else Side.SELL
    return Trade(int(row["timestamp_ms"]), float(row["price"]), float(row["quantity"]), side,
                 row["trade_id"])  # fmt: skip


def _best_bid_ask(row: dict, symbol: str) -> OrderBook:
    return OrderBook(
        symbol, [(Decimal(row["bid"]), Decimal(row["bid_size"]))],
        [(Decimal(row["ask"]), Decimal(row["ask_size"]))], int(row["timestamp_ms"]),
    )  # fmt: skip


PARSERS = {
    "binance_trades": _binance_trade,
    "ccxt_trades": _ccxt_trade,
    "kraken_trades": _kraken_trade,
    "best_bid_ask": _best_bid_ask,
}
