import gzip

import numpy as np
import pytest

from tradecore import indicators as ind


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))
    high = close * (1 + rng.uniform(0, 0.01, close.size))
    low = close * (1 - rng.uniform(0, 0.01, close.size))
    return high, low, close


def assert_agree(a, b, rtol=1e-9):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.array_equal(np.isnan(a), np.isnan(b)), "warm-up differs"
    ok = ~np.isnan(a)
    np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=1e-9)


def stream(factory, values):
    s = factory()
    return [s.update(v) for v in values]


@pytest.mark.parametrize("period", [1, 2, 10, 30])
def test_sma_streaming_matches_vectorized(series, period):
    close = series[2]
    assert_agree(ind.sma(close, period), stream(lambda: ind.StreamingSMA(period), close))


def test_sma_known_values():
    out = ind.sma([1, 2, 3, 4, 5], 3)
    assert np.isnan(out[:2]).all() and list(out[2:]) == [2.0, 3.0, 4.0]


@pytest.mark.parametrize("period", [2, 12, 26])
def test_ema_streaming_matches_vectorized(series, period):
    close = series[2]
    assert_agree(ind.ema(close, period), stream(lambda: ind.StreamingEMA(period), close))


def test_rsi_streaming_matches_vectorized_and_stays_in_range(series):
    close = series[2]
    vec = ind.rsi(close, 14)
    assert_agree(vec, stream(lambda: ind.StreamingRSI(14), close))
    valid = vec[~np.isnan(vec)]
    assert valid.min() >= 0 and valid.max() <= 100


def test_rsi_of_a_rising_series_is_100():
    assert ind.rsi(np.arange(1, 30, dtype=float), 14)[-1] == 100.0


def test_macd_streaming_matches_vectorized(series):
    close = series[2]
    line, sig, hist = ind.macd(close, 12, 26, 9)
    s = ind.StreamingMACD(12, 26, 9)
    rows = np.array([s.update(v) for v in close])
    assert_agree(line, rows[:, 0])
    assert_agree(sig, rows[:, 1])
    assert_agree(hist, rows[:, 2])


def test_bollinger_streaming_matches_vectorized(series):
    close = series[2]
    vec = ind.bollinger(close, 20, 2.0)
    s = ind.StreamingBollinger(20, 2.0)
    rows = np.array([s.update(v) for v in close])
    for i in range(3):
        assert_agree(vec[i], rows[:, i])


def test_atr_streaming_matches_vectorized(series):
    high, low, close = series
    vec = ind.atr(high, low, close, 14)
    s = ind.StreamingATR(14)
    assert_agree(vec, [s.update(h, lo, c) for h, lo, c in zip(high, low, close, strict=True)])


def test_streaming_snapshot_restore_continues_identically(series):
    close = series[2].tolist()
    a = ind.StreamingRSI(14)
    for v in close[:100]:
        a.update(v)
    b = ind.StreamingRSI(14)
    b.restore(a.snapshot())
    assert [a.update(v) for v in close[100:200]] == [b.update(v) for v in close[100:200]]


def test_bad_period_is_refused():
    with pytest.raises(ValueError, match="period"):
        ind.sma([1.0, 2.0], 0)


@pytest.fixture(scope="module")
def real(request):
    from tests.tradecore.conftest import REPO_ROOT
    from tradecore.testing import data_dir

    path = data_dir(REPO_ROOT) / "binance_BTC-USDT_1m.csv.gz"
    if not path.exists():
        pytest.skip("real data absent")
    with gzip.open(path, "rt") as fh:
        rows = np.loadtxt(fh, delimiter=",", skiprows=1, max_rows=5000)
    return rows[:, 2], rows[:, 3], rows[:, 4]


def test_against_talib(real):
    talib = pytest.importorskip("talib")
    high, low, close = real
    assert_agree(ind.sma(close, 30), talib.SMA(close, 30))
    assert_agree(ind.ema(close, 12), talib.EMA(close, 12))
    assert_agree(ind.rsi(close, 14), talib.RSI(close, 14))
    assert_agree(ind.atr(high, low, close, 14), talib.ATR(high, low, close, 14))
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0)
    ours = ind.bollinger(close, 20, 2.0)
    for mine, theirs in zip(ours, (upper, middle, lower), strict=True):
        assert_agree(mine, theirs)
    line, sig, hist = talib.MACD(close, 12, 26, 9)
    my_line, my_sig, my_hist = ind.macd(close, 12, 26, 9)
    tail = slice(1000, None)  # TA-Lib seeds its fast EMA later; equal after warm-up
    np.testing.assert_allclose(my_line[tail], line[tail], rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(my_sig[tail], sig[tail], rtol=1e-9, atol=1e-7)


def test_streaming_equals_vectorized_bit_for_bit(series):
    """Equal, not just close: a crossover on an exact tie must go the same way in both paths."""
    high, low, close = series
    flat = np.concatenate([close[:50], np.full(40, 100.0), close[50:300]])  # exact ties
    for vec, make in (
        (ind.sma(flat, 10), lambda: ind.StreamingSMA(10)),
        (ind.sma(flat, 30), lambda: ind.StreamingSMA(30)),
        (ind.ema(flat, 12), lambda: ind.StreamingEMA(12)),
        (ind.rsi(flat, 14), lambda: ind.StreamingRSI(14)),
    ):
        streamed = np.array(stream(make, flat))
        assert np.array_equal(vec, streamed, equal_nan=True)
    s = ind.StreamingATR(14)
    streamed = [s.update(h, lo, c) for h, lo, c in zip(high, low, close, strict=True)]
    assert np.array_equal(ind.atr(high, low, close, 14), np.array(streamed), equal_nan=True)
