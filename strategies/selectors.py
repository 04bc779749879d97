"""Reads of the strategies app: the catalog (from tradecore's registry), saved configs,
backtest runs and the stored candles a backtest runs on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg
from django.db import connection
from django.db.models import Count, F, JSONField, Max, Min, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404
from psycopg.adapt import Loader
from psycopg.pq import Format

from marketdata.models import Candle, Instrument
from marketdata.services.candles import ms_to_dt
from strategies.models import BacktestRun, StrategyConfig
from tradecore.backtest.data import CandleArrays
from tradecore.strategies import REGISTRY

FAMILIES = {
    "pure_market_making": "market_making",
    "avellaneda_stoikov": "market_making",
    "cross_exchange_market_making": "arbitrage",
    "spatial_arbitrage": "arbitrage",
    "triangular_arbitrage": "arbitrage",
    "ema_cross": "signal",
    "sma_cross": "signal",
    "rsi_mean_reversion": "signal",
    "macd": "signal",
    "bollinger": "signal",
    "rules": "signal",
    "grid": "grid",
    "dca": "grid",
    "webhook_signal": "webhook",  # trades on alerts posted to it: nothing to backtest
}
# Config fields naming the venues a multi-venue strategy trades on (they must be bot venues).
VENUE_FIELDS = {
    "cross_exchange_market_making": ("maker_venue", "taker_venue"),
    "spatial_arbitrage": ("venue_a", "venue_b"),
}
# Config fields naming the symbols a strategy trades besides the bot's own.
SYMBOL_FIELDS = {"triangular_arbitrage": ("first_symbol", "second_symbol", "third_symbol")}


@dataclass(frozen=True)
class CatalogEntry:
    """One strategy of the catalog with its parameters' JSON schema."""

    id: str
    name: str
    family: str
    description: str
    schema: dict
    venue_fields: tuple[str, ...]
    symbol_fields: tuple[str, ...]


def _entry(strategy_id: str) -> CatalogEntry:
    cls = REGISTRY[strategy_id]
    doc = (cls.__doc__ or "").strip()
    return CatalogEntry(
        id=strategy_id,
        name=strategy_id.replace("_", " ").capitalize(),
        family=FAMILIES.get(strategy_id, "other"),
        description=" ".join(doc.split()),
        schema=cls.config_class.json_schema(),
        venue_fields=VENUE_FIELDS.get(strategy_id, ()),
        symbol_fields=SYMBOL_FIELDS.get(strategy_id, ()),
    )


def strategy_catalog() -> list[CatalogEntry]:
    """Every strategy a bot can run, by family then id."""
    return sorted((_entry(sid) for sid in REGISTRY), key=lambda e: (e.family, e.id))


def strategy_get(*, strategy_id: str) -> CatalogEntry:
    """One catalog entry; Http404 for an unknown id."""
    if strategy_id not in REGISTRY:
        raise Http404("No such strategy.")
    return _entry(strategy_id)


def strategy_config_list(*, user) -> QuerySet[StrategyConfig]:
    """The user's saved strategy configs, by name."""
    return StrategyConfig.objects.filter(user_id=user.pk).order_by("name", "created_at")


def strategy_config_get_for_user(*, user, id) -> StrategyConfig:  # noqa: A002
    """One of the user's saved configs; Http404 for anyone else's or an unknown id."""
    try:
        return strategy_config_list(user=user).get(pk=int(id))
    except (StrategyConfig.DoesNotExist, TypeError, ValueError):
        raise Http404("No such strategy config.") from None


# -- backtests -------------------------------------------------------------------------------
def backtest_run_list(*, user) -> QuerySet[BacktestRun]:
    """The user's backtest runs, newest first, with `metrics` (results deferred: they can be
    large; the metrics are read out of them in the query)."""
    return (
        BacktestRun.objects.filter(user_id=user.pk)
        .defer("results")
        .annotate(metrics=F("results__metrics"))
        .order_by("-created_at", "-id")
    )


def backtest_run_get_for_user(*, user, id) -> BacktestRun:  # noqa: A002
    """One of the user's runs with its results; Http404 for anyone else's or an unknown id."""
    try:
        return BacktestRun.objects.filter(user_id=user.pk).get(pk=int(id))
    except (BacktestRun.DoesNotExist, TypeError, ValueError):
        raise Http404("No such backtest.") from None


def backtest_run_page_get_for_user(*, user, id, trades_from: int, trades_count: int):  # noqa: A002
    """One of the user's runs for its page, and what the page shows of its results: all but
    the fills (the CSVs and the API have them), with the trades [trades_from, +trades_count)
    only and `trade_count` the number of trades. Postgres cuts them out, so a long run's page
    does not read every fill and trade. (run, results or None); Http404 for anyone else's."""
    last = trades_from + max(trades_count, 1) - 1
    try:
        run = (
            BacktestRun.objects.filter(user_id=user.pk)
            .defer("results")
            .annotate(
                page_results=RawSQL("results - 'fills' - 'trades'", [], output_field=JSONField()),
                page_trades=RawSQL(
                    "jsonb_path_query_array(results -> 'trades', "
                    "('$[' || %s || ' to ' || %s || ']')::jsonpath)",
                    [int(trades_from), int(last)], output_field=JSONField(),
                ),
                page_trade_count=RawSQL(
                    "jsonb_array_length(COALESCE(results -> 'trades', '[]'::jsonb))", []
                ),
            )
            .get(pk=int(id))
        )  # fmt: skip
    except (BacktestRun.DoesNotExist, TypeError, ValueError):
        raise Http404("No such backtest.") from None
    results = run.page_results
    if not results or not isinstance(results, dict):
        return run, None
    return run, {**results, "trades": run.page_trades or [], "trade_count": run.page_trade_count}


class _RawArray(Loader):
    """A binary one-dimensional array of 8-byte values, kept as its bytes (numpy reads it)."""

    format = Format.BINARY

    def load(self, data) -> bytes:
        return bytes(data)


# Each column comes back as one binary array: a 20-byte header (dimensions, null flag,
# element type, length, lower bound), then per element its 4-byte length and 8-byte
# big-endian value (columns are NOT NULL). One row instead of one COPY message per bar: the
# client's cost per bar is numpy's, and the server's is the float8 cast and array_agg.
_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i8")])
_ARRAY_OIDS = (1016, 1022, 1185)  # int8[], float8[], timestamptz[]
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, where Postgres counts timestamps from


def _array(raw: bytes, dtype: str) -> np.ndarray:
    ndim, has_null, _oid, length, _lower = np.frombuffer(raw, ">i4", 5)
    elements = np.frombuffer(raw, _ELEMENT, count=length, offset=20)
    if ndim != 1 or has_null or len(raw) != 20 + 12 * length or (elements["length"] != 8).any():
        raise RuntimeError("unexpected binary array layout from Postgres")
    return elements["value"].view(dtype).astype(dtype[1:])


def backtest_candles(
    *, exchange: str, symbol: str, timeframe: str, start_ms: int, end_ms: int
) -> CandleArrays | None:
    """Stored bars of one market in [start, end) as float columns, oldest first; None if none.

    One query returning each column as a binary array, read straight into numpy: the NUMERIC
    prices become float64 in Postgres (signal math runs in floats; the simulated exchange
    rounds what it fills to the market's steps), times are Postgres' microseconds.
    """
    # the table name is a constant; every value is a bound parameter
    sql = (
        "SELECT array_agg(ts), array_agg(open::float8), array_agg(high::float8), "  # noqa: S608
        "array_agg(low::float8), array_agg(close::float8), array_agg(volume::float8) "
        f"FROM (SELECT * FROM {Candle._meta.db_table} WHERE exchange = %s AND symbol = %s "
        "AND timeframe = %s AND ts >= %s AND ts < %s ORDER BY ts) AS bars"
    )
    params = [exchange, symbol, timeframe, ms_to_dt(start_ms), ms_to_dt(end_ms)]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        for oid in _ARRAY_OIDS:
            cursor.adapters.register_loader(oid, _RawArray)
        row = cursor.execute(sql, params, binary=True).fetchone()
    if row is None or row[0] is None:
        return None
    micros = _array(row[0], ">i8") + _PG_EPOCH_US
    # to milliseconds rounded half away from zero, as EXTRACT(EPOCH FROM ts) * 1000 to bigint
    ms = np.where(micros >= 0, (micros + 500) // 1000, -((500 - micros) // 1000))
    return CandleArrays(ms.astype(np.int64), *(_array(raw, ">f8") for raw in row[1:]))


@dataclass(frozen=True)
class StoredMarket:
    """A market and timeframe with candles in the database, and the span they cover."""

    exchange: str
    symbol: str
    timeframe: str
    first: datetime
    last: datetime
    bars: int


def backtest_market_list() -> list[StoredMarket]:
    """Every (exchange, symbol, timeframe) with stored candles: what a backtest can run on."""
    rows = (
        Candle.objects.values("exchange", "symbol", "timeframe")
        .annotate(first=Min("ts"), last=Max("ts"), bars=Count("ts"))
        .order_by("exchange", "symbol", "timeframe")
    )
    return [StoredMarket(**row) for row in rows]


def backtest_fetchable_markets(*, stored: list[StoredMarket]) -> list[tuple[str, str]]:
    """(exchange, symbol) of the sandbox venues' known markets without stored candles: a
    backtest on them fetches its history from the exchange first (when the settings allow)."""
    from django.conf import settings

    from exchanges import registry

    if settings.PEREGRINE_BACKTEST_FETCH_HISTORY == "none":
        return []
    have = {(m.exchange, m.symbol) for m in stored}
    rows = (
        Instrument.objects.filter(exchange__in=registry.sandbox_venues())
        .order_by("exchange", "symbol")
        .values_list("exchange", "symbol")
    )
    return [row for row in rows if row not in have]


def instrument_steps(*, exchange: str, symbol: str) -> dict | None:
    """The stored instrument's price and amount steps and minimum cost, or None if unknown."""
    return (
        Instrument.objects.filter(exchange=exchange, symbol=symbol)
        .values("price_step", "amount_step", "min_cost")
        .first()
    )


def backtest_run_ids_parse(raw) -> list[int]:
    """Run ids from a query: "3,5,8" or repeated values; ValueError in words if one is not a
    whole number."""
    values = raw if isinstance(raw, list | tuple) else [raw]
    ids = []
    for value in values:
        for part in str(value or "").split(","):
            part = part.strip().lstrip("#")
            if not part:
                continue
            if not part.isdigit():
                raise ValueError(f"{part!r} is not a backtest id.")
            ids.append(int(part))
    return ids


def backtest_runs_get_for_user(*, user, ids: list[int]) -> list[BacktestRun]:
    """The user's runs with these ids, in the order given (repeats kept: the caller refuses
    them); Http404 if any is not the user's or does not exist."""
    found = {run.pk: run for run in BacktestRun.objects.filter(user_id=user.pk, pk__in=ids)}
    if any(i not in found for i in ids):
        raise Http404("No such backtest.")
    return [found[i] for i in ids]


def optimization_list(*, user):
    """The user's parameter searches, newest first (results deferred)."""
    from strategies.models import Optimization

    return (
        Optimization.objects.filter(user_id=user.pk).defer("results").order_by("-created_at", "-id")
    )


def optimization_get_for_user(*, user, id):  # noqa: A002
    """One of the user's searches; Http404 for anyone else's or an unknown id."""
    from strategies.models import Optimization

    try:
        return Optimization.objects.filter(user_id=user.pk).get(pk=int(id))
    except (Optimization.DoesNotExist, TypeError, ValueError):
        raise Http404("No such optimization.") from None
