import gzip
from decimal import Decimal as D

import numpy as np
import pytest

from tradecore.backtest import (
    CandleArrays,
    DataError,
    load_candles,
    round_trips,
    run_candles,
    run_vectorized,
    sweep,
)
from tradecore.backtest.__main__ import main as cli
from tradecore.backtest.metrics import compute_metrics
from tradecore.domain import Instrument, OrderType, Side
from tradecore.intents import CancelAllIntent, OrderIntent
from tradecore.strategies import REGISTRY, validate_config
from tradecore.strategies.base import SignalStrategy, Strategy
from tradecore.strategies.signals import SmaCrossConfig, SmaCrossStrategy


def inst(fee="0.001", lot="0.00000001"):
    return Instrument("BTC-USDT", "BTC", "USDT", D("0.01"), D(lot), D(0), D(fee), D(fee))


def candles_from_closes(closes, start=0, step=60_000):
    closes = np.asarray(closes, dtype=float)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    ts = start + np.arange(len(closes), dtype=np.int64) * step
    high = np.maximum(opens, closes) + 0.5
    low = np.minimum(opens, closes) - 0.5
    return CandleArrays(ts, opens, high, low, closes, np.full(len(closes), 10.0))


@pytest.fixture(scope="module")
def real_slice():
    from tests.tradecore.conftest import REPO_ROOT
    from tradecore.testing import data_dir

    path = data_dir(REPO_ROOT) / "binance_BTC-USDT_1m.csv.gz"
    if not path.exists():
        pytest.skip("real data absent")
    return load_candles(path).slice(0, 12_000)


def test_golden_sma_cross_fills_and_pnl():
    closes = [10, 10, 10, 9, 8, 9, 10.5, 13, 14, 11, 10, 8, 8, 9]
    data = candles_from_closes(closes)
    config = SmaCrossConfig(fast=2, slow=3)
    result = run_candles(SmaCrossStrategy(config), data, inst(fee="0"), cash=1000)
    fills = [(int(f.ts // 60_000), f.side.value, f.price, f.qty) for f in result.fills]
    # SMA2 crosses above SMA3 at bar 6 (9.75 > 9.17) -> buy at bar 7's open (10.5), all cash
    # SMA2 crosses below SMA3 at bar 9 (12.5 < 12.67) -> sell at bar 10's open (11)
    qty = D("95.23809523")  # 1000 / 10.5 floored to the 1e-8 lot
    assert fills == [(7, "buy", D("10.5"), qty), (10, "sell", D("11"), qty)]
    (trip,) = result.trades
    assert trip.pnl == D("0.5") * qty
    assert result.final_equity == pytest.approx(1000 + float(trip.pnl))


class PeekingStrategy(Strategy):
    """Tries to profit from the bar it has just seen: bids at that bar's low."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_candle(self, symbol, candle):
        now = self.ctx.now_ms()
        self.seen.append((candle.ts_ms, now, self.ctx.last_price(symbol)))
        assert now >= candle.ts_ms + 60_000, "a bar is delivered only once it has closed"
        if self.ctx.position(symbol) > 0:
            return [OrderIntent(symbol, Side.SELL, OrderType.MARKET, D("1"))]
        price = D(repr(candle.low)).quantize(D("0.01"))
        return [
            CancelAllIntent(symbol),
            OrderIntent(symbol, Side.BUY, OrderType.LIMIT, D("1"), price),
        ]


def test_a_strategy_that_peeks_cannot_see_or_trade_the_past_bar():
    rng = np.random.default_rng(3)
    closes = 100 + np.cumsum(rng.normal(0, 1, 300))
    data = candles_from_closes(closes)
    strategy = PeekingStrategy()
    result = run_candles(strategy, data, inst(), cash=100_000)
    assert [ts for ts, _, _ in strategy.seen] == data.ts.tolist()
    for (ts, _, last), close in zip(strategy.seen, data.close, strict=True):
        assert float(last) == close  # the latest price it sees is this bar's close
    buys = [f for f in result.fills if f.side is Side.BUY]
    assert len(buys) > 10, "the scenario must trade"
    orders = result.engine.om.orders
    for fill in buys:
        seen_bar_ts = orders[fill.client_order_id].created_ms - 60_000  # the bar it copied
        assert fill.ts > seen_bar_ts  # never filled inside the bar it had already seen
        bar = int(np.searchsorted(data.ts, fill.ts))
        assert data.low[bar] <= float(fill.price)  # a later bar really traded there


@pytest.mark.parametrize("strategy_id", ["sma_cross", "ema_cross", "rsi_mean_reversion", "macd",
                                         "bollinger"])  # fmt: skip
def test_vectorized_path_gives_the_same_trades_as_the_event_path(strategy_id, real_slice):
    cls = REGISTRY[strategy_id]
    instrument = inst(lot="0.00001")
    event = run_candles(cls(), real_slice, instrument, cash=10_000)
    vector = run_vectorized(cls(), real_slice, instrument, cash=10_000)
    event_trades = [
        (int(np.searchsorted(real_slice.ts, f.ts)), f.side.value, f.price, f.qty, f.fee)
        for f in event.fills
    ]
    vector_trades = [(t.bar, t.side, t.price, t.qty, t.fee) for t in vector.trades]
    assert len(event_trades) > 4
    assert event_trades == vector_trades
    np.testing.assert_allclose(event.equity, vector.equity, rtol=1e-12)


def test_streaming_and_vectorized_signals_agree(real_slice):
    for cls in REGISTRY.values():
        if not issubclass(cls, SignalStrategy):
            continue
        strategy = cls()
        entries, exits = strategy.signals(
            real_slice.open, real_slice.high, real_slice.low, real_slice.close, real_slice.volume
        )
        streamed = [strategy.step(c) for c in _candles(real_slice)]
        assert [e for e, _ in streamed] == entries.tolist(), cls.strategy_id
        assert [x for _, x in streamed] == exits.tolist(), cls.strategy_id


def _candles(arrays):
    from tradecore.domain import Candle

    for row in zip(arrays.ts.tolist(), arrays.open.tolist(), arrays.high.tolist(),
                   arrays.low.tolist(), arrays.close.tolist(), arrays.volume.tolist(),
                   strict=True):  # fmt: skip
        yield Candle(*row)


def test_sweep_runs_each_valid_combination_once(real_slice):
    grid = {"fast": [5, 10, 40], "slow": [20, 30]}
    fine = inst(lot="1e-12")  # with a fine lot, float and exact accounting meet closely
    exact = sweep(SmaCrossStrategy, real_slice, fine, grid, exact=True)
    quick = sweep(SmaCrossStrategy, real_slice, fine, grid)
    assert [(p["fast"], p["slow"]) for p, _ in exact] == [(5, 20), (5, 30), (10, 20), (10, 30)]
    assert [p for p, _ in quick] == [p for p, _ in exact]
    # the two combinations with fast >= slow are reported with the reason, not dropped silently
    assert [(p["fast"], p["slow"]) for p, _ in exact.skipped] == [(40, 20), (40, 30)]
    assert all("slow" in reason for _, reason in quick.skipped) and quick.total == 6
    single = run_vectorized(SmaCrossStrategy(SmaCrossConfig(fast=10, slow=30)), real_slice, fine)
    assert exact[3][1].final_equity == single.final_equity
    for (_, e), (_, q) in zip(exact, quick, strict=True):
        assert q.final_equity == pytest.approx(e.final_equity, rel=1e-9)
        assert q.trade_count == sum(1 for t in e.trades if t.side == "sell")


def test_a_cross_through_a_tie_counts_once_where_the_sign_changes():
    # SMA2 == SMA3 on bar 9 (13 == 13) and below on bar 10: the exit is at bar 10
    closes = [10, 10, 10, 9, 8, 9, 11, 13, 14, 12, 10, 8, 8, 9]
    entries, exits = SmaCrossStrategy(SmaCrossConfig(fast=2, slow=3)).signals(
        None, None, None, np.asarray(closes, float), None
    )
    assert np.flatnonzero(entries).tolist() == [6, 13]
    assert np.flatnonzero(exits).tolist() == [10]


def test_metrics_on_a_known_curve():
    equity = np.array([100.0, 110.0, 99.0, 121.0, 110.0])
    ts = np.arange(5) * 86_400_000
    m = compute_metrics(equity, ts, [], [], np.array([0, 1, 1, 0, 0], bool), 86_400_000)
    assert m["total_return"] == pytest.approx(0.10)
    assert m["max_drawdown"] == pytest.approx(0.10)
    assert m["max_drawdown_duration_ms"] == 2 * 86_400_000
    assert m["exposure"] == pytest.approx(0.4)
    assert m["trade_count"] == 0


def test_round_trips_net_of_fees(real_slice):
    result = run_candles(SmaCrossStrategy(), real_slice, inst(lot="0.00001"), cash=10_000)
    trips = round_trips(result.fills)
    assert len(trips) == result.metrics["trade_count"] > 0
    for trip in trips:
        gross = (trip.exit_price - trip.entry_price) * trip.qty
        assert trip.pnl == gross - trip.fees
    assert result.metrics["fees_paid"] == pytest.approx(float(sum(f.fee for f in result.fills)))


def test_unsorted_and_malformed_data_is_refused_by_row(tmp_path):
    bad = tmp_path / "unsorted.csv"
    bad.write_text("timestamp_ms,open,high,low,close,volume\n2,1,1,1,1,1\n1,1,1,1,1,1\n")
    with pytest.raises(DataError, match="not strictly increasing at row 2"):
        load_candles(bad)
    header = tmp_path / "header.csv"
    header.write_text("time,o,h,l,c,v\n1,1,1,1,1,1\n")
    with pytest.raises(DataError, match="header"):
        load_candles(header)
    ohlc = tmp_path / "ohlc.csv.gz"
    ohlc.write_bytes(gzip.compress(b"timestamp_ms,open,high,low,close,volume\n1,5,4,3,4,1\n"))
    with pytest.raises(DataError, match="high below"):
        load_candles(ohlc)
    with pytest.raises(DataError, match="cannot read"):
        load_candles(tmp_path / "missing.csv")


def test_cli_prints_metrics_and_writes_csv(tmp_path, capsys):
    data = tmp_path / "bars.csv"
    closes = 100 + np.sin(np.arange(400) / 7.0) * 5
    rows = candles_from_closes(closes)
    lines = ["timestamp_ms,open,high,low,close,volume"] + [
        f"{t},{o},{h},{lo},{c},{v}"
        for t, o, h, lo, c, v in zip(
            rows.ts, rows.open, rows.high, rows.low, rows.close, rows.volume, strict=True
        )  # fmt: skip
    ]
    data.write_text("\n".join(lines) + "\n")
    trades, equity = tmp_path / "trades.csv", tmp_path / "equity.csv"
    args = ["--strategy", "ema_cross", "--data", str(data), "--param", "fast=5"]
    args += ["--param", "slow=12", "--trades-csv", str(trades), "--equity-csv", str(equity)]
    code = cli(args)
    out = capsys.readouterr().out
    assert code == 0 and "final_equity:" in out and "sharpe:" in out
    assert trades.read_text().startswith("ts_ms,side,price")
    assert len(equity.read_text().splitlines()) == 401


@pytest.mark.parametrize(
    "args, message",
    [
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--strategy", "ema_cross", "--param", "speed=3"], "speed: unknown parameter"),
        (["--strategy", "ema_cross", "--param", "fast=0"], "fast: must be >= 1"),
        (["--strategy", "ema_cross", "--param", "fast=abc"], "fast: expected integer"),
        (["--strategy", "ema_cross", "--param", "fast=30", "--param", "slow=10"], "fast: must be"),
        (["--strategy", "ema_cross", "--fee", "1"], "maker_fee: a fee is a fraction"),
        (["--strategy", "ema_cross", "--fee", "5"], "maker_fee: a fee is a fraction"),
        (["--strategy", "ema_cross", "--cash", "0"], "cash: a backtest needs starting capital"),
    ],
)
def test_cli_bad_input_names_the_problem(args, message, tmp_path, capsys):
    data = tmp_path / "x.csv"
    data.write_text("timestamp_ms,open,high,low,close,volume\n1,1,1,1,1,1\n")
    assert cli([*args, "--data", str(data)]) == 2
    assert message in capsys.readouterr().err


def test_validate_config_names_the_field():
    with pytest.raises(ValueError, match="allocation: must be <= 1"):
        validate_config("sma_cross", {"allocation": 2})
    config = validate_config("sma_cross", {"fast": "5", "slow": 20})
    assert (config.fast, config.slow) == (5, 20)


def test_cli_vectorized_path_prints_the_same_final_equity(tmp_path, capsys):
    data = tmp_path / "bars.csv"
    rows = candles_from_closes(100 + np.sin(np.arange(300) / 5.0) * 5)
    lines = ["timestamp_ms,open,high,low,close,volume"] + [
        f"{t},{o},{h},{lo},{c},{v}"
        for t, o, h, lo, c, v in zip(
            rows.ts, rows.open, rows.high, rows.low, rows.close, rows.volume, strict=True
        )
    ]
    data.write_text("\n".join(lines) + "\n")
    base = ["--strategy", "sma_cross", "--data", str(data), "--param", "fast=3", "--param",
            "slow=8"]  # fmt: skip
    assert cli(base) == 0
    event = [line for line in capsys.readouterr().out.splitlines() if "final_equity" in line]
    assert cli([*base, "--vectorized"]) == 0
    vector = [line for line in capsys.readouterr().out.splitlines() if "final_equity" in line]
    assert float(event[0].split(":")[1]) == pytest.approx(float(vector[0].split(":")[1]))


def test_cli_warns_on_data_shorter_than_the_warm_up_and_zero_volume_bars(tmp_path, capsys):
    data = tmp_path / "short.csv"
    rows = ["timestamp_ms,open,high,low,close,volume"]
    rows += [f"{i * 60_000},100,101,99,100,{0 if i % 5 == 0 else 3}" for i in range(20)]
    data.write_text("\n".join(rows) + "\n")
    assert cli(["--strategy", "sma_cross", "--data", str(data)]) == 0
    err = capsys.readouterr().err
    assert "the data has 20 bars, fewer than the 31 the strategy needs to warm up" in err
    assert "4 of 20 bars have zero volume" in err


def test_check_inputs_refuses_a_fee_of_one_and_no_capital():
    from tradecore.backtest.checks import check_inputs
    from tradecore.strategies.base import ConfigError

    bars = candles_from_closes(100 + np.sin(np.arange(100) / 5.0))
    strategy = SmaCrossStrategy(SmaCrossConfig(fast=3, slow=8))
    assert check_inputs(strategy, bars, inst(), cash=1000) == []
    with pytest.raises(ConfigError, match="maker_fee: a fee is a fraction"):
        check_inputs(strategy, bars, inst(fee="1"), cash=1000)
    with pytest.raises(ConfigError, match="cash"):
        check_inputs(strategy, bars, inst(), cash=0)
    assert check_inputs(strategy, bars, inst(), cash=0, base=1) == []  # capital held as base
