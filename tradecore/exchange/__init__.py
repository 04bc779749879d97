"""Simulated venues: matching engine, latency and slippage models."""

from tradecore.exchange.models import (
    BookWalkSlippage,
    FixedBpsSlippage,
    FixedLatency,
    NoLatency,
    NoSlippage,
    UniformLatency,
)
from tradecore.exchange.simulated import DEFAULT_ACCOUNT, OrderNotFound, SimulatedExchange

__all__ = [
    "DEFAULT_ACCOUNT",
    "BookWalkSlippage",
    "FixedBpsSlippage",
    "FixedLatency",
    "NoLatency",
    "NoSlippage",
    "OrderNotFound",
    "SimulatedExchange",
    "UniformLatency",
]
