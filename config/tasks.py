"""Platform tasks: the heartbeat that /healthz reads to know workers and beat are alive."""

from celery import shared_task

from config import health


@shared_task(name="config.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Record that a worker ran a task sent by beat."""
    health.heartbeat_record()
