"""Celery tasks of the strategies app (thin: load by id, call one service).

`backtest_run_execute` runs on the "backtests" queue (route strategies.tasks.backtest_*), so
a long backtest never delays bot loops, collectors or beat's short tasks.
"""

from __future__ import annotations

from celery import shared_task

from strategies import services

# a three-year 1m backtest replays about 1.6M bars: give it far more than the default 300 s
# (the broker's visibility timeout, 3600 s, stays above the hard limit)
BACKTEST_SOFT_LIMIT_SECONDS = 3000
BACKTEST_HARD_LIMIT_SECONDS = 3300


@shared_task(
    name="strategies.tasks.backtest_run_execute",
    soft_time_limit=BACKTEST_SOFT_LIMIT_SECONDS,
    time_limit=BACKTEST_HARD_LIMIT_SECONDS,
)
def backtest_run_execute(run_id: int) -> str:
    """Run one queued backtest and store its results (or why it failed); idempotent."""
    return services.backtest_run_execute(run_id=run_id)
