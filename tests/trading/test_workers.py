"""Bots on real Celery workers: one runner per bot, the supervisor, concurrent start and stop."""

import random
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from tests.conftest import wait_until
from tests.trading import workers
from trading.models import Bot, BotEvent, BotLease, Order
from trading.services.bots import bot_start, bot_stop
from trading.services.leases import lease_is_live
from trading.tasks import bot_run_slice_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean_queue():
    workers.purge_bots_queue()


def test_two_workers_one_bot_one_runner(alice, make_bot, feeder, child_processes, sandbox_url):
    env = workers.worker_env(sandbox_url, slice_seconds=1)
    workers.start_worker(child_processes, env, "one")
    workers.start_worker(child_processes, env, "two")
    bot = make_bot(alice)
    with feeder():
        bot_start(bot=bot)
        workers.wait_running([bot.pk])
        for _ in range(10):  # duplicate slices: the lease must turn all but one away
            bot_run_slice_task.apply_async((bot.pk,), queue="bots")
        time.sleep(8)
        bot_stop(bot=bot)
        wait_until(
            lambda: Bot.objects.get(pk=bot.pk).status == "stopped", timeout=20, what="stopped"
        )
    tokens = workers.token_intervals_do_not_overlap(bot.pk)
    assert len(tokens) >= 4
    holders = {
        e.data["holder"].split(":")[1] for e in BotEvent.objects.filter(bot=bot, kind="slice")
    }
    assert len(holders) == 2, "both workers ran slices of the bot, one after the other"
    assert not Order.objects.filter(bot=bot, status__in=Order.ACTIVE).exists()
    assert not lease_is_live(bot_id=bot.pk)


def test_a_killed_workers_bot_is_resumed_by_the_supervisor_within_30_seconds(
    alice, make_bot, feeder, child_processes, sandbox_url
):
    """Default lease (15 s), real beat (supervisor every 10 s), real worker, SIGKILL."""
    env = workers.worker_env(sandbox_url, lease_seconds=15, slice_seconds=60, checkpoint_seconds=1)
    first = workers.start_worker(child_processes, env, "first", queues="bots,default")
    child_processes.start(
        "-m", "celery", "-A", "config", "beat", "--scheduler",
        "django_celery_beat.schedulers:DatabaseScheduler", "--pidfile", "", "--loglevel", "WARNING",
        env=env,
    )  # fmt: skip
    bot = make_bot(alice)
    with feeder():
        bot_start(bot=bot)
        workers.wait_running([bot.pk], timeout=60)
        time.sleep(1)
        token = BotLease.objects.get(bot=bot).token
        workers.kill(first)
        killed_at = time.monotonic()
        workers.start_worker(child_processes, env, "second", queues="bots,default")
        wait_until(
            lambda: BotLease.objects.get(bot=bot).token > token and lease_is_live(bot_id=bot.pk),
            timeout=45,
            interval=0.2,
            what="the bot resumed",
        )
        resumed_after = time.monotonic() - killed_at
        restarts = BotEvent.objects.filter(bot=bot, kind="restart")
        assert restarts.count() == 1
        wait_until(
            lambda: Order.objects.filter(bot=bot, lease_token__gt=token).exists(),
            timeout=15,
            what="orders after the restart",
        )
    assert resumed_after < 30, resumed_after
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING


def test_concurrent_start_and_stop_leave_exactly_one_runner_or_none(
    alice, make_bot, feeder, child_processes, sandbox_url
):
    workers.start_worker(child_processes, workers.worker_env(sandbox_url), "racer")
    bot = make_bot(alice)
    outcomes = []
    with feeder():
        for round_ in range(3):
            errors = []

            def hammer(seed):
                rng = random.Random(seed)
                try:
                    for _ in range(6):
                        try:
                            if rng.random() < 0.5:
                                bot_start(bot=Bot.objects.get(pk=bot.pk))
                            else:
                                bot_stop(bot=Bot.objects.get(pk=bot.pk))
                        except ValidationError:
                            pass
                        time.sleep(rng.random() * 0.2)
                except Exception as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                finally:
                    connection.close()

            threads = [threading.Thread(target=hammer, args=(round_ * 100 + i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors, errors

            def settled():
                b = Bot.objects.get(pk=bot.pk)
                if b.status == "running":
                    return lease_is_live(bot_id=bot.pk) and "running"
                if b.status == "stopped":
                    active = Order.objects.filter(bot=bot, status__in=Order.ACTIVE).exists()
                    return not lease_is_live(bot_id=bot.pk) and not active and "stopped"
                return False

            outcomes.append(wait_until(settled, timeout=30, interval=0.2, what="settled"))
            if outcomes[-1] == "running":
                time.sleep(1.5)  # still exactly one runner: writes keep one token at a time
                bot_stop(bot=Bot.objects.get(pk=bot.pk))
                wait_until(lambda: settled() == "stopped", timeout=30, what="stopped")
    workers.token_intervals_do_not_overlap(bot.pk)
