"""Trades into candles and candles into longer candles, checked against an exchange's own bars."""

import csv
import gzip
from datetime import UTC, datetime

import numpy as np
import pytest

from marketdata.aggregation import Bar, CandleBuilder, resample, trades_to_candles
from marketdata.testing import data_file
from marketdata.timeframes import align


def _rows(path):
    with gzip.open(path, "rt") as handle:
        return list(csv.DictReader(handle))


def test_real_binance_trades_rebuild_binance_own_1m_bars():
    trades = _rows(data_file("ticks/binance_XRP-ETH_trades_20191011.csv.gz"))
    bars = _rows(data_file("binance_XRP-ETH_1m_20191011.csv.gz"))
    builder = CandleBuilder()
    built = builder.add_many(
        [int(t["timestamp_ms"]) for t in trades],
        [float(t["price"]) for t in trades],
        [float(t["amount"]) for t in trades],
    )
    built.append(builder.current())
    assert len(built) == len(bars) == 2469
    for mine, theirs in zip(built, bars, strict=True):
        assert mine.ts_ms == int(theirs["timestamp_ms"])
        assert (mine.open, mine.high, mine.low, mine.close) == tuple(
            float(theirs[k]) for k in ("open", "high", "low", "close")
        )
        assert mine.volume == pytest.approx(float(theirs["volume"]), rel=1e-9)


def test_vectorized_aggregation_equals_streaming():
    rng = np.random.default_rng(3)
    ts = np.sort(rng.integers(0, 3_600_000, 20_000))
    price = 100 + rng.standard_normal(20_000).cumsum()
    qty = rng.random(20_000)
    builder = CandleBuilder()
    streamed = builder.add_many(ts.tolist(), price.tolist(), qty.tolist()) + [builder.current()]
    vts, o, h, low, c, v, n = trades_to_candles(ts, price, qty)
    assert [b.ts_ms for b in streamed] == vts.tolist()
    assert [b.high for b in streamed] == h.tolist()
    assert [b.low for b in streamed] == low.tolist()
    assert [b.close for b in streamed] == c.tolist()
    assert [b.trades for b in streamed] == n.tolist()
    assert sum(b.volume for b in streamed) == pytest.approx(v.sum())


def test_bar_closes_on_the_clock_without_a_new_trade():
    builder = CandleBuilder()
    builder.add(60_000 + 5, 10.0, 1.0)
    assert builder.close_due(119_999) is None
    assert builder.close_due(120_000) == Bar(60_000, 10.0, 10.0, 10.0, 10.0, 1.0, 1)


def test_longer_bars_align_to_utc_epoch_boundaries():
    start = int(datetime(2021, 5, 19, 22, 0, tzinfo=UTC).timestamp() * 1000)
    minutes = [(start + i * 60_000, 1.0 + i, 2.0 + i, 0.5, 1.5 + i, 1.0, 1) for i in range(300)]
    daily = resample(minutes, "1d")
    assert [datetime.fromtimestamp(b.ts_ms / 1000, UTC).hour for b in daily] == [0, 0]
    assert daily[0].ts_ms == int(datetime(2021, 5, 19, tzinfo=UTC).timestamp() * 1000)
    assert daily[0].volume == 120 and daily[1].volume == 180
    four_hour = resample(minutes, "4h")
    assert [datetime.fromtimestamp(b.ts_ms / 1000, UTC).hour for b in four_hour] == [20, 0]
    assert four_hour[0].open == 1.0 and four_hour[0].close == minutes[119][4]


def test_binance_daily_bars_follow_the_stated_alignment():
    """Binance's own 1d bars open at 00:00 UTC: the alignment our 1d derivation uses."""
    for row in _rows(data_file("binance_BTC-USDT_1d_2020.csv.gz")):
        ts = int(row["timestamp_ms"])
        assert align(ts, "1d") == ts


def test_five_minute_bars_from_real_1m_bars_match_5m_bars_from_the_trades():
    trades = _rows(data_file("ticks/binance_XRP-ETH_trades_20191011.csv.gz"))
    minute = [
        (
            int(r["timestamp_ms"]),
            float(r["open"]),
            float(r["high"]),
            float(r["low"]),
            float(r["close"]),
            float(r["volume"]),
        )
        for r in _rows(data_file("binance_XRP-ETH_1m_20191011.csv.gz"))
    ]
    derived = resample(minute, "15m")
    ts, o, h, low, c, v, _ = trades_to_candles(
        [int(t["timestamp_ms"]) for t in trades],
        [float(t["price"]) for t in trades],
        [float(t["amount"]) for t in trades],
        step_ms=900_000,
    )
    assert [b.ts_ms for b in derived] == ts.tolist()
    assert [b.open for b in derived] == o.tolist() and [b.close for b in derived] == c.tolist()
    assert [b.high for b in derived] == h.tolist() and [b.low for b in derived] == low.tolist()
    assert np.allclose([b.volume for b in derived], v)
