"""Backtests on trades and order books, and the execution options of every run: the slippage
model (none, fixed basis points, book-walk) and the latency.

A run's data source is the stored candles (the default), or the data folder's trades
("trades") or trades and book snapshots ("book"), read by `marketdata.tickfiles`; any
single-market catalog strategy runs on them, market makers included. Book-walk needs
order-book data for the market over the period: where there is none the run is refused when
it is created, saying what exists, never run with another model instead.

Tick runs replay in the backtests worker through tradecore's `run_feed`: the bars of the
run's timeframe (built from the trades, or from the book's mids without trades) are the
strategy's candles and the results' grid, so the results page shows them like a candle run's,
with the fills as markers and the inventory held at each bar's close.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from marketdata import tickfiles
from marketdata.aggregation import trades_to_candles
from marketdata.services.candles import dt_to_ms
from marketdata.timeframes import TIMEFRAMES_MS
from strategies.models import BacktestRun
from strategies.selectors import FAMILIES
from tradecore.backtest.data import CandleArrays

TICK_TIMEFRAMES = {"1s": 1_000, **TIMEFRAMES_MS}  # seconds bars for runs of a few minutes
TICK_FAMILIES = ("signal", "grid", "market_making")
MAX_LATENCY_MS = 60_000
QUIET_MS = 60_000  # no event for longer than this is reported as a gap in the data
MARKET_MAKER_TIMER_MS = 1_000  # market makers re-quote on a timer: a tick each second
Source = BacktestRun.DataSource
Slippage = BacktestRun.Slippage


def _when(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, tz=UTC):%Y-%m-%d %H:%M:%S}"


def _spans(kind: str) -> str:
    sources = [s for s in tickfiles.tick_sources() if s.kind == kind]
    if not sources:
        return f"the data folder has no {kind} files"
    listed = "; ".join(
        f"{s.exchange} {s.symbol} {_when(s.first_ms)} → {_when(s.last_ms)} UTC" for s in sources
    )
    return f"{kind} files cover {listed}"


def _covers(exchange: str, symbol: str, kind: str, start, end) -> bool:
    source = tickfiles.tick_source(exchange=exchange, symbol=symbol, kind=kind)
    return source is not None and (
        source.first_ms < dt_to_ms(end) and source.last_ms >= dt_to_ms(start)
    )


def _period(start, end) -> str:
    return f"between {start:%Y-%m-%d %H:%M:%S} and {end:%Y-%m-%d %H:%M:%S} UTC"


def execution_validate(errors: dict, *, strategy: str, data_source, slippage_model, slippage_bp,
                       latency_ms, exchange: str, symbol: str, timeframe: str, start, end,
                       ) -> dict:  # fmt: skip
    """Check the data source, slippage model and latency (adding to `errors` by field) and
    return them clean. An unnamed slippage model is fixed_bp when basis points are given."""
    data_source = str(data_source or Source.CANDLES).strip()
    if data_source not in Source.values:
        errors["data_source"] = f"Choose one of {', '.join(Source.values)}."
    if slippage_model in (None, ""):
        slippage_model = Slippage.FIXED_BP if slippage_bp else Slippage.NONE
    slippage_model = str(slippage_model).strip()
    if slippage_model not in Slippage.values:
        errors["slippage_model"] = f"Choose one of {', '.join(Slippage.values)}."
    elif slippage_model != Slippage.FIXED_BP and slippage_bp:
        errors["slippage_bp"] = "Basis points are the fixed_bp model's: choose it, or give 0."
    latency = _latency(errors, latency_ms)
    ticks = data_source in (Source.TRADES, Source.BOOK)
    if ticks and timeframe in TICK_TIMEFRAMES:
        errors.pop("timeframe", None)  # 1s bars exist for tick runs
    if errors.get("data_source") or not (start and end and exchange and symbol):
        return {"data_source": data_source, "slippage_model": slippage_model,
                "latency_ms": latency}  # fmt: skip
    if ticks:
        _tick_source_validate(errors, strategy, data_source, exchange, symbol, start, end)
    if slippage_model == Slippage.BOOK_WALK and not _covers(exchange, symbol, "book", start, end):
        errors["slippage_model"] = (
            f"No order-book data for {exchange} {symbol} {_period(start, end)}, so book-walk "
            f"fills cannot be simulated ({_spans('book')}). Choose none or fixed basis points, "
            "or a period with book data."
        )
    return {"data_source": data_source, "slippage_model": slippage_model, "latency_ms": latency}


def _latency(errors: dict, value) -> int:
    try:
        latency = int(str(value if value not in (None, "") else 0).strip())
    except ValueError:
        errors["latency_ms"] = "Enter a whole number of milliseconds."
        return 0
    if not 0 <= latency <= MAX_LATENCY_MS:
        errors["latency_ms"] = f"{latency} is out of range: 0 to {MAX_LATENCY_MS} milliseconds."
        return 0
    return latency


def _tick_source_validate(errors, strategy, data_source, exchange, symbol, start, end) -> None:
    family = FAMILIES.get(strategy)
    if family == "arbitrage":
        errors["strategy"] = (
            f"{strategy} trades across venues: it needs two venues' trades or books over one "
            "period, and the data folder has no such pair."
        )
    elif family is not None and family not in TICK_FAMILIES:
        errors["strategy"] = f"{strategy} does not run on trades or books."
    kinds = ("trades",) if data_source == Source.TRADES else ("book",)
    for kind in kinds:
        if not _covers(exchange, symbol, kind, start, end):
            errors["data_source"] = (
                f"No {kind} data for {exchange} {symbol} {_period(start, end)} "
                f"({_spans(kind)}). Pick a market and period from what exists."
            )


def strategy_family_allowed(*, strategy: str, data_source: str) -> bool:
    """Whether the strategy's family backtests on this data source (candles: signal, grid)."""
    if data_source in (Source.TRADES, Source.BOOK):
        return FAMILIES.get(strategy) in (*TICK_FAMILIES, "arbitrage")  # arbitrage: refused later
    return False


def uses_feed(run: BacktestRun) -> bool:
    """Whether the run replays through `run_feed` (ticks or books) rather than `run_candles`."""
    return run.data_source != Source.CANDLES or run.slippage_model == Slippage.BOOK_WALK


def tick_data_load(run: BacktestRun) -> dict:
    """The run's trades and books from the data folder (what its source and slippage need)."""
    window = {"exchange": run.exchange, "symbol": run.symbol,
              "start_ms": dt_to_ms(run.start), "end_ms": dt_to_ms(run.end)}  # fmt: skip
    trades, books = [], []
    ticks = run.data_source in (Source.TRADES, Source.BOOK)
    if ticks and tickfiles.tick_source(exchange=run.exchange, symbol=run.symbol, kind="trades"):
        trades = tickfiles.tick_trades_load(**window)
    if run.data_source == Source.BOOK or run.slippage_model == Slippage.BOOK_WALK:
        books = tickfiles.tick_books_load(**window)
    return {"trades": trades, "books": books}


def tick_bars(run: BacktestRun, trades, books) -> CandleArrays | None:
    """The run's bars from its trades (or the book's mids when it has none); None if empty."""
    step = TICK_TIMEFRAMES[run.timeframe]
    if trades:
        ts = np.fromiter((t.ts_ms for t in trades), np.int64, len(trades))
        price = np.fromiter((t.price for t in trades), np.float64, len(trades))
        qty = np.fromiter((t.qty for t in trades), np.float64, len(trades))
    else:
        mids = [(b.ts_ms, float(b.mid())) for b in books if b.mid() is not None]
        if not mids:
            return None
        ts = np.asarray([m[0] for m in mids], np.int64)
        price = np.asarray([m[1] for m in mids], np.float64)
        qty = np.zeros(len(mids))
    bar_ts, o, h, low, c, v, _ = trades_to_candles(ts, price, qty, step)
    return CandleArrays(bar_ts, o, h, low, c, v)


def tick_notes(run: BacktestRun, trades, books) -> list[str]:
    """What the run's tick data covers, and its quiet stretches, in words."""
    notes = []
    start_ms, end_ms = dt_to_ms(run.start), dt_to_ms(run.end)
    for name, events in (("trades", trades), ("book snapshots", books)):
        if not events:
            continue
        stamps = [e.ts_ms for e in events]
        notes.append(
            f"{len(events):,} {name} from the data folder, {_when(stamps[0])} → "
            f"{_when(stamps[-1])} UTC"
        )
        gaps = tickfiles.tick_gaps(stamps, start_ms=start_ms, end_ms=end_ms, quiet_ms=QUIET_MS)
        if gaps:
            listed = "; ".join(
                f"{_when(g.start_ms)} → {_when(g.end_ms)} ({g.seconds:,.0f} s)" for g in gaps[:5]
            )
            more = f"; and {len(gaps) - 5} more" if len(gaps) > 5 else ""
            notes.append(
                f"No {name} for over {QUIET_MS // 1000} s in {len(gaps)} stretch(es) of the "
                f"period: {listed}{more}"
            )
    return notes


def execution_results(run: BacktestRun, result, trades, books) -> dict:
    """The execution model the run used, stored with its results."""
    return {
        "data_source": run.data_source,
        "slippage_model": run.slippage_model,
        "slippage_bp": str(run.slippage_bp),
        "latency_ms": run.latency_ms,
        "trades": len(trades),
        "book_snapshots": len(books),
        "cut_short": [
            {"ts": o.updated_ms, "side": o.side.value, "qty": str(o.qty), "reason": o.reason}
            for o in getattr(result, "cut_short", [])
        ],
    }


def inventory_points(bars: CandleArrays, inventory, idx) -> list[list]:
    """The base held at each sampled bar's close: [[ts_ms, qty], ...]."""
    return [[int(bars.ts[i]), float(inventory[i])] for i in idx.tolist()]


def fingerprint_extra(run: BacktestRun) -> str:
    """sha256 of the tick files the run read ('' for a plain candle run)."""
    kinds = []
    if run.data_source in (Source.TRADES, Source.BOOK):
        kinds.append("trades")
    if run.data_source == Source.BOOK or run.slippage_model == Slippage.BOOK_WALK:
        kinds.append("book")
    if not kinds:
        return ""
    return tickfiles.tick_fingerprint(exchange=run.exchange, symbol=run.symbol, kinds=tuple(kinds))


def _strategy_and_instrument(run: BacktestRun):
    from strategies import services

    try:
        config = services.validate_config(run.strategy, run.params)
    except services.ConfigError as exc:
        raise services.BacktestFailed(str(exc)) from None
    strategy = services.REGISTRY[run.strategy](config, symbol=run.symbol)
    base, _, quote = run.symbol.partition("/")
    steps = services.instrument_steps(exchange=run.exchange, symbol=run.symbol) or {}
    instrument = services.Instrument(
        run.symbol, base, quote, steps.get("price_step") or services._STEP,
        steps.get("amount_step") or services._STEP, steps.get("min_cost") or ZERO,
        run.fee_rate, run.fee_rate,
    )  # fmt: skip
    return strategy, instrument


def feed_replay(run: BacktestRun, publisher) -> dict:
    """Replay a tick or book-walk run (the worker's `_backtest_replay` for these runs) and
    return what the run stores: results, warnings, bars, code version, data fingerprint."""
    from strategies import services
    from strategies.backtest_results import (
        chart_indicators,
        data_fingerprint,
        results_build,
        sample_indices,
    )
    from tradecore.backtest.feed import run_feed
    from tradecore.exchange import FixedBpsSlippage

    data = tick_data_load(run)
    trades, books = data["trades"], data["books"]
    notes = tick_notes(run, trades, books)
    if run.data_source == Source.CANDLES:  # book-walk over stored candles
        bars, strategy, instrument, fetched = services._backtest_inputs(run, publisher)
        notes = fetched + notes
    else:
        bars = tick_bars(run, trades, books)
        if bars is None:
            raise services.BacktestFailed(
                f"no trades or book snapshots for {run.symbol} on {run.exchange} "
                f"{_period(run.start, run.end)} in the data folder"
            )
        strategy, instrument = _strategy_and_instrument(run)
    if run.slippage_model == Slippage.BOOK_WALK and not books:
        raise services.BacktestFailed(
            f"no order-book data for {run.exchange} {run.symbol} {_period(run.start, run.end)}: "
            "book-walk fills cannot be simulated"
        )
    total = len(bars)
    BacktestRun.objects.filter(pk=run.pk).update(bars_total=total)
    publisher.restart_clock()
    publisher.replaying(0, total, force=True)

    def progress(done: int, events: int) -> None:  # events replayed, reported as bars
        bars_done = total * done // events
        services.backtest_run_progress(run_id=run.pk, done=bars_done)  # raises if cancelled
        publisher.replaying(bars_done, total, force=done >= events)

    interval = TICK_TIMEFRAMES[run.timeframe]
    market_maker = FAMILIES.get(run.strategy) == "market_making"
    result = run_feed(
        strategy, instrument, bars, interval_ms=interval, trades=trades, books=books,
        cash=run.cash, latency_ms=run.latency_ms,
        book_walk=run.slippage_model == Slippage.BOOK_WALK,
        slippage_model=FixedBpsSlippage(run.slippage_bp)
        if run.slippage_model == Slippage.FIXED_BP and run.slippage_bp else None,
        timer_ms=MARKET_MAKER_TIMER_MS if market_maker else None,
        progress=progress, progress_every=max(1_000, (len(trades) + len(books) + 2 * total) // 100),
    )  # fmt: skip
    results = results_build(result, bars, cash=float(run.cash))
    results["indicators"] = chart_indicators(run.strategy, run.params, bars)
    results["monthly_returns"] = services.monthly_returns(bars.ts, result.equity,
                                                          cash=float(run.cash))  # fmt: skip
    results["gaps"] = [] if run.data_source != Source.CANDLES else services.gaps_json(run, bars)
    results["inventory"] = inventory_points(bars, result.inventory, sample_indices(len(bars)))
    results["execution"] = execution_results(run, result, trades, books)
    warnings = notes + _cut_short_words(result)
    fingerprint = data_fingerprint(bars)
    extra = fingerprint_extra(run)
    return {
        "results": results,
        "warnings": warnings,
        "bars_done": total,
        "code_version": services.code_version(),
        "data_fingerprint": _combined(fingerprint, extra) if extra else fingerprint,
    }


def _cut_short_words(result) -> list[str]:
    cut = getattr(result, "cut_short", [])
    if not cut:
        return []
    return [
        f"{len(cut)} market order(s) met a book too thin for their size and filled in part "
        f"(first: {cut[0].reason})"
    ]


def _combined(*digests: str) -> str:
    import hashlib

    return hashlib.sha256("".join(digests).encode()).hexdigest()


ZERO = Decimal(0)
