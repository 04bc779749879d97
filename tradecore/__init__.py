"""Peregrine trading core: plain Python + numpy, no Django, no I/O, no wall clock.

The same objects run backtests, paper trading and live trading; only the clock, the market
feed and the exchange differ.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
