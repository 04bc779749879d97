"""A real Celery worker delivers a notification, backing off after a transient error."""

from __future__ import annotations

import uuid

from django.db import transaction

from notifications.models import DeliveryLog
from notifications.services import notification_channel_create, notify
from tests.conftest import wait_until


def test_worker_retries_with_backoff_then_delivers(alice, hook_server, child_processes, settings):
    queue = f"notify-test-{uuid.uuid4().hex[:8]}"  # a queue no other test run consumes
    settings.PEREGRINE_NOTIFY_QUEUE = queue
    child_processes.start(
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        queue,
        "--concurrency",
        "1",
        "--pool",
        "solo",
        "-n",
        f"{queue}@%h",
        "--without-mingle",
        "--without-gossip",
        env={"PEREGRINE_NOTIFY_RETRY_BASE_SECONDS": "2"},
    )
    notification_channel_create(
        user=alice, kind="webhook", label="hook", target=hook_server.url(), events=["bot_error"]
    )
    hook_server.statuses = [503]
    with transaction.atomic():
        notify(user=alice, event="bot_error", title="Bot mm stopped", body="error: boom")

    delivery = wait_until(
        lambda: DeliveryLog.objects.filter(status="sent").first(),
        timeout=90,
        interval=0.3,
        what="the delivery to be sent by the worker",
    )
    assert delivery.attempts == 2 and delivery.error == ""
    first, second = hook_server.received
    assert first.json() == second.json()
    assert second.json()["title"] == "Bot mm stopped"
    assert second.at - first.at >= 1.5  # backed off (2 s +-20%), not retried at once
