"""The Celery app: Redis broker, JSON only, late acks, named queues (default, marketdata, bots)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("peregrine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "marketdata", "bots")]
app.autodiscover_tasks()
app.autodiscover_tasks(["config"])
