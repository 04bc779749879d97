"""Market makers backtested on real ticks: Binance BTC-USDT trades and top-of-book quotes."""

import csv
import gzip
from decimal import Decimal as D

import pytest

from tradecore.backtest import MarketEvent, run_events
from tradecore.clock import SimulatedClock
from tradecore.domain import Side, Trade
from tradecore.exchange import SimulatedExchange
from tradecore.strategies.market_making import (
    AvellanedaStoikovConfig,
    AvellanedaStoikovStrategy,
    PureMarketMakingConfig,
    PureMarketMakingStrategy,
)
from tradecore.testing import instrument


@pytest.fixture(scope="module")
def events(request):
    from tests.tradecore.conftest import REPO_ROOT
    from tradecore.testing import data_dir

    base = data_dir(REPO_ROOT) / "ticks"
    trades_path = base / "binance_BTC-USDT_trades_20210108.csv.gz"
    quotes_path = base / "binance_BTC-USDT_quotes_20210108.csv.gz"
    if not trades_path.exists() or not quotes_path.exists():
        pytest.skip("tick data absent")
    out = []
    with gzip.open(quotes_path, "rt") as fh:
        for r in csv.DictReader(fh):
            ts = int(r["timestamp_ms"])
            snap = {"bids": [(r["bid"], r["bid_size"])], "asks": [(r["ask"], r["ask_size"])],
                    "ts_ms": ts}  # fmt: skip
            out.append((ts, 0, MarketEvent(ts, "binance", "BTC-USDT", snap)))
    with gzip.open(trades_path, "rt") as fh:
        for r in csv.DictReader(fh):
            ts = int(r["timestamp_ms"])
            side = Side.SELL if r["buyer_maker"] == "True" else Side.BUY
            trade = Trade(ts, float(r["price"]), float(r["quantity"]), side, r["trade_id"])
            out.append((ts, 1, MarketEvent(ts, "binance", "BTC-USDT", trade)))
    out.sort(key=lambda item: (item[0], item[1]))
    return [e for _, _, e in out]


def run(strategy, events):
    clock = SimulatedClock(events[0].ts_ms)
    venue = SimulatedExchange("binance", [instrument(lot="0.000001", maker="0.0001",
                                                     taker="0.001")], clock=clock)  # fmt: skip
    venue.deposit("default", "USDT", "10000")
    venue.deposit("default", "BTC", "0.25")
    engine, equity = run_events(strategy, events, {"binance": venue}, clock, timer_ms=1000)
    return engine, venue, equity


def pmm():
    return PureMarketMakingStrategy(PureMarketMakingConfig(
        bid_spread="0.0002", ask_spread="0.0002", order_amount="0.002",
        order_refresh_time_ms=2000, filled_order_delay_ms=1000,
    ))  # fmt: skip


def test_pure_market_maker_trades_real_ticks_and_the_books_reconcile(events):
    engine, venue, equity = run(pmm(), events)
    fills = engine.fills
    assert len(fills) >= 2 and {f.side for f in fills} == {Side.BUY, Side.SELL}
    assert all(f.liquidity == "maker" for f in fills)  # post-only quotes never take
    usdt, btc = D("10000"), D("0.25")
    for f in fills:
        sign = 1 if f.side is Side.BUY else -1
        btc += sign * f.qty
        usdt -= sign * f.price * f.qty + f.fee
    assert venue.balance("default", "USDT").total == usdt
    assert venue.balance("default", "BTC").total == btc
    assert len(equity) == len(events)


def test_tick_backtests_are_deterministic(events):
    first, _, _ = run(pmm(), events)
    second, _, _ = run(pmm(), events)
    assert [(f.ts, f.price, f.qty) for f in first.fills] == [
        (f.ts, f.price, f.qty) for f in second.fills
    ]


def test_avellaneda_stoikov_runs_on_real_ticks(events):
    strategy = AvellanedaStoikovStrategy(AvellanedaStoikovConfig(
        order_amount="0.002", risk_aversion=0.05, min_spread="0.0002", order_refresh_time_ms=1000,
    ))  # fmt: skip
    engine, venue, _ = run(strategy, events)
    assert strategy.kappa() != strategy.config.default_kappa  # estimated from the trades
    assert strategy.variance() > 0
    assert engine.om.orders, "it quoted"
    assert all(f.liquidity == "maker" for f in engine.fills)
