"""A warm worker shutdown hands every bot over at once: a deploy does not wait out the slices."""

import os
import signal
import time

import pytest

from tests.conftest import wait_until
from tests.trading import workers
from trading.models import Bot, BotEvent, BotLease
from trading.services.bots import bot_start
from trading.services.leases import lease_is_live

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_warm_shutdown_hands_every_bot_over_at_once(
    alice, make_bot, feeder, child_processes, sandbox_url
):
    workers.purge_bots_queue()
    # slices of two minutes: without the hand-over the worker would wait that long to exit
    env = workers.worker_env(sandbox_url, lease_seconds=15, slice_seconds=120)
    first = workers.start_worker(child_processes, env, "first")
    bots = [make_bot(alice) for _ in range(3)]
    ids = [bot.pk for bot in bots]
    with feeder():
        for bot in bots:
            bot_start(bot=bot)
        workers.wait_running(ids, timeout=60)
        time.sleep(1)
        tokens = dict(BotLease.objects.filter(bot_id__in=ids).values_list("bot_id", "token"))
        os.killpg(first.pid, signal.SIGTERM)  # Celery's warm shutdown
        began = time.monotonic()
        first.wait(60)
        took = time.monotonic() - began
        # each bot enqueued its next slice as it let go: a new worker takes them up at once,
        # without the supervisor (no beat runs here) and without a restart
        workers.start_worker(child_processes, env, "second")

        def resumed():
            leases = BotLease.objects.filter(bot_id__in=ids)
            return all(
                lease.token > tokens[lease.bot_id] and lease_is_live(bot_id=lease.bot_id)
                for lease in leases
            )

        wait_until(resumed, timeout=45, interval=0.2, what="every bot resumed by the new worker")
    assert took < 15, f"the worker took {took:.1f} s to shut down"
    assert not BotEvent.objects.filter(bot_id__in=ids, kind="restart").exists()
    assert BotEvent.objects.filter(bot_id__in=ids, kind="slice").count() >= 3
    assert set(Bot.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"running"}
