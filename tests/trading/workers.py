"""Real Celery workers (and beat) for trading tests, against the test database and sandbox."""

from __future__ import annotations

import os
import signal

import redis
from django.conf import settings

from tests.conftest import wait_until
from tests.trading.conftest import VENUE_A, VENUE_B


def worker_env(sandbox_url: str, **knobs) -> dict[str, str]:
    env = {
        "PEREGRINE_SANDBOX_URL": sandbox_url,
        "PEREGRINE_SANDBOX_VENUES": ",".join(["sandbox", "sandbox-b", VENUE_A, VENUE_B]),
        "PEREGRINE_BOT_LEASE_SECONDS": "2",
        "PEREGRINE_BOT_SLICE_SECONDS": "3",
        "PEREGRINE_BOT_POLL_SECONDS": "0.25",
        "PEREGRINE_BOT_CHECKPOINT_SECONDS": "0.5",
        "PEREGRINE_BOT_DB_THREADS": "2",
        "LOG_LEVEL": "WARNING",
    }
    env.update({f"PEREGRINE_BOT_{k.upper()}": str(v) for k, v in knobs.items()})
    return env


def purge_bots_queue() -> None:
    """Drop slice messages left by earlier tests (their bots do not exist in this database)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("bots")
    client.close()


def start_worker(child_processes, env: dict, name: str, queues: str = "bots", threads: int = 16):
    return child_processes.start(
        "-m", "celery", "-A", "config", "worker", "-Q", queues, "-P", "threads",
        "-c", str(threads), "-n", f"{name}@%h", "--without-mingle", "--without-gossip",
        "--without-heartbeat", "--loglevel", "WARNING",
        env=env,
    )  # fmt: skip


def kill(process) -> None:
    """SIGKILL: no cleanup, no goodbye."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(10)


def lease_holder_pid(bot_id: int) -> int | None:
    from trading.models import BotLease

    lease = BotLease.objects.filter(bot_id=bot_id).first()
    if lease is None or not lease.holder:
        return None
    return int(lease.holder.split(":")[1])


def wait_running(bot_ids, timeout=120.0) -> None:
    """Wait (a hang guard, generous for a loaded 2-core machine) until every bot runs."""
    from trading.models import Bot
    from trading.services.leases import lease_is_live

    def ready():
        bots = Bot.objects.filter(pk__in=bot_ids)
        return all(b.status == "running" and lease_is_live(bot_id=b.pk) for b in bots)

    wait_until(ready, timeout=timeout, interval=0.1, what="bots running under a live lease")


def token_intervals_do_not_overlap(bot_id: int) -> list[int]:
    """Every write of a lease token precedes every write of the next token (fencing)."""
    from django.db.models import Max, Min

    from trading.models import Order

    rows = list(
        Order.objects.filter(bot_id=bot_id)
        .values("lease_token")
        .annotate(first=Min("created_at"), last=Max("created_at"))
        .order_by("lease_token")
    )
    for earlier, later in zip(rows, rows[1:], strict=False):
        assert earlier["last"] < later["first"], (earlier, later)
    return [r["lease_token"] for r in rows]
