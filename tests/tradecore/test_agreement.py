"""Agreement with engines nobody here wrote (issue 4): same entry and exit bars and the same
final equity (relative difference < 1e-9) for the SMA(10)/SMA(30) long-only crossover."""

import importlib.util
import sys
from decimal import Decimal

import numpy as np
import pytest

from tests.tradecore.conftest import REPO_ROOT
from tradecore.backtest import load_candles, run_candles, run_vectorized
from tradecore.domain import Instrument, Side
from tradecore.strategies.signals import SmaCrossConfig, SmaCrossStrategy

sys.path.insert(0, str(REPO_ROOT / "bench"))
import tradecore_reference as reference  # noqa: E402

DATA = "binance_BTC-USDT_1m.csv.gz"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ours(request):
    from tradecore.testing import data_dir

    path = data_dir(REPO_ROOT) / DATA
    if not path.exists():
        pytest.skip(f"{DATA} not found")
    candles = load_candles(path)
    instrument = Instrument(
        "BTC-USDT", "BTC", "USDT", Decimal("0.01"), Decimal("1e-15"), Decimal(0),
        Decimal(str(reference.FEE)), Decimal(str(reference.FEE)),
    )  # fmt: skip
    config = SmaCrossConfig(fast=reference.FAST, slow=reference.SLOW)
    result = run_candles(
        SmaCrossStrategy(config), candles, instrument, cash=Decimal(str(reference.CASH))
    )
    bars = np.searchsorted(candles.ts, [f.ts for f in result.fills])
    entries = [int(b) for b, f in zip(bars, result.fills, strict=True) if f.side is Side.BUY]
    exits = [int(b) for b, f in zip(bars, result.fills, strict=True) if f.side is Side.SELL]
    vector = run_vectorized(SmaCrossStrategy(config), candles, instrument, cash=reference.CASH)
    return path, entries, exits, result.final_equity, vector


@pytest.fixture(scope="module")
def frame(ours):
    pd = pytest.importorskip("pandas")
    return pd.read_csv(ours[0])


def assert_same(ours, theirs):
    _, entries, exits, final, _ = ours
    their_entries, their_exits, their_final = theirs
    assert len(entries) > 100
    assert their_entries == entries
    assert their_exits == exits
    assert abs(their_final - final) / final < 1e-9


def test_vectorized_path_agrees(ours):
    _, entries, exits, final, vector = ours
    assert [t.bar for t in vector.trades if t.side == "buy"] == entries
    assert [t.bar for t in vector.trades if t.side == "sell"] == exits
    assert abs(vector.final_equity - final) / final < 1e-12


def test_plain_loop_agrees(ours, frame):
    assert_same(ours, reference.plain_loop(frame))


@pytest.mark.parametrize("engine, module", [
    ("backtesting_py", "backtesting"),
    ("backtrader", "backtrader"),
    ("vectorbt", "vectorbt"),
])  # fmt: skip
def test_reference_engine_agrees(ours, frame, engine, module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} not installed (requirements/bench.in)")
    assert_same(ours, getattr(reference, engine)(frame))
