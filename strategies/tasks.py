"""Celery tasks of the strategies app (thin: load by id, call one service).

`backtest_run_execute` runs on the "backtests" queue (route strategies.tasks.backtest_*), so
a long backtest never delays bot loops, collectors or beat's short tasks.
"""

from __future__ import annotations

from celery import shared_task

from strategies import services


@shared_task(
    name="strategies.tasks.backtest_run_execute",
    soft_time_limit=services.SOFT_LIMIT_SECONDS,
    time_limit=services.HARD_LIMIT_SECONDS,
)
def backtest_run_execute(run_id: int) -> str:
    """Run one queued backtest and store its results (or why it failed); idempotent."""
    return services.backtest_run_execute(run_id=run_id)


@shared_task(
    name="strategies.tasks.backtest_optimization_execute",
    soft_time_limit=services.SOFT_LIMIT_SECONDS,
    time_limit=services.HARD_LIMIT_SECONDS,
)
def backtest_optimization_execute(run_id: int) -> str:
    """Run one queued parameter search (backtests queue) and store its results; idempotent."""
    from strategies.optimizations import optimization_execute

    return optimization_execute(run_id=run_id)
