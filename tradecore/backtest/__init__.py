"""Backtesting: event-driven runner, vectorized fast path, metrics and data loading."""

from tradecore.backtest.data import CandleArrays, DataError, load_candles
from tradecore.backtest.metrics import RoundTrip, compute_metrics, round_trips
from tradecore.backtest.runner import BacktestResult, MarketEvent, run_candles, run_events
from tradecore.backtest.vectorized import VectorResult, run_vectorized, sweep

__all__ = [
    "BacktestResult",
    "CandleArrays",
    "DataError",
    "MarketEvent",
    "RoundTrip",
    "VectorResult",
    "compute_metrics",
    "load_candles",
    "round_trips",
    "run_candles",
    "run_events",
    "run_vectorized",
    "sweep",
]
