"""Runners parked between two slices on this process, so the next slice carries on from memory.

A slice that ends parks its runner before it enqueues the next slice; the next slice, given the
handed-over token, takes it up (nothing ran the bot in between), any other starts afresh.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from trading import conf


class Parkable(Protocol):
    """What parking needs of a runner (trading.runtime.runner.Parkable)."""

    bot_id: int
    token: int | None
    closed: bool
    loop_ended: float
    gaps: dict[str, int]

    def _close(self) -> None: ...


# Runners whose slice ended, waiting for their next slice on this process (bot id ->
# (token, runner, parked at)). One that waits longer than two lease periods was taken up
# elsewhere (or not at all) and is closed.
_parked: dict[int, tuple[int | None, Parkable, float]] = {}
_parked_lock = threading.Lock()


def _park(runner: Parkable) -> None:
    with _parked_lock:
        previous = _parked.pop(runner.bot_id, None)
        _parked[runner.bot_id] = (runner.token, runner, time.monotonic())
    if previous is not None and previous[1] is not runner:
        previous[1]._close()


def _unpark(bot_id: int, handover_token: int | None) -> Parkable | None:
    limit = 2 * conf.get("PEREGRINE_BOT_LEASE_SECONDS")
    now = time.monotonic()
    stale = []
    with _parked_lock:
        entry = _parked.pop(bot_id, None)
        for other_id, (_, _runner, parked_at) in list(_parked.items()):
            if now - parked_at > limit:
                stale.append(_parked.pop(other_id)[1])
    for runner in stale:
        runner._close()
    if entry is None:
        return None
    token, runner, parked_at = entry
    if handover_token is not None and token == handover_token and not runner.closed:
        runner.gaps = {  # reported with the next slice: how long the bot was not trading
            "queued_ms": round((now - parked_at) * 1000),
            "gap_ms": round((now - runner.loop_ended) * 1000),
        }
        return runner
    runner._close()
    return None


def parked_close_all() -> None:
    """Close every parked runner (tests; a worker shutting down)."""
    with _parked_lock:
        runners = [entry[1] for entry in _parked.values()]
        _parked.clear()
    for runner in runners:
        runner._close()
