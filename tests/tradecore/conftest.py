from pathlib import Path

import pytest

from tradecore import testing
from tradecore.clock import SimulatedClock
from tradecore.exchange import SimulatedExchange

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_file():
    """Return a function mapping a shared data file name to its path, skipping if absent."""

    def find(name: str) -> Path:
        path = testing.data_dir(REPO_ROOT) / name
        if not path.exists():
            pytest.skip(f"market data {name} not found under {path.parent}")
        return path

    return find


@pytest.fixture
def clock():
    return SimulatedClock(1_000)


@pytest.fixture
def venue(clock):
    ex = SimulatedExchange("sim", [testing.instrument()], clock=clock)
    ex.deposit("alice", "USDT", "10000")
    ex.deposit("alice", "BTC", "1")
    return ex
