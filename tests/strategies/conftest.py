"""The backtest fixtures (real candles in Postgres, queued runs, sent tasks) for every module of
the strategies tests."""

from tests.strategies.test_backtests import queued, real_candles, sent, stored  # noqa: F401
