"""The Celery app: Redis broker, JSON only, late acks, named queues (default, marketdata, bots,
backtests)."""

import os

from celery import Celery
from celery.signals import beat_init, before_task_publish, worker_ready
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("peregrine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "marketdata", "bots", "backtests")]
# Routes besides settings.CELERY_TASK_ROUTES (marketdata.tasks.* and trading.tasks.bot_*):
# backtests replay for minutes, on a queue of their own.
ROUTES = {"strategies.tasks.backtest_*": {"queue": "backtests"}}
app.autodiscover_tasks()
app.autodiscover_tasks(["config"])


@app.on_after_configure.connect
def _add_routes(sender, **kwargs):
    """Merge ROUTES into the settings' routes once the configuration is loaded."""
    sender.conf.task_routes = {**(sender.conf.task_routes or {}), **ROUTES}


@before_task_publish.connect
def _record_beat_heartbeat(sender=None, **kwargs):
    """Beat publishes the heartbeat task: record, in the publishing process, that beat is alive."""
    if sender == "config.tasks.heartbeat":
        from config import health

        health.beat_record()


@worker_ready.connect
def _record_worker_ready(**kwargs):
    from config import health

    health.heartbeat_record()


@beat_init.connect
def _record_beat_start(**kwargs):
    from config import health

    health.beat_record()
