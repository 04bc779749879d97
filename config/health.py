"""Health of the platform's parts: database, Redis, worker heartbeat and beat."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

HEARTBEAT_KEY = f"peregrine:{settings.PEREGRINE_ENV}:worker-heartbeat"
BEAT_TASK_NAME = "peregrine-heartbeat"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    age_seconds: float | None = None

    def as_dict(self) -> dict:
        data = {"ok": self.ok, "detail": self.detail}
        if self.age_seconds is not None:
            data["age_seconds"] = round(self.age_seconds, 1)
        return data


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def heartbeat_record() -> None:
    """Store the current time as the last worker heartbeat."""
    _redis().set(HEARTBEAT_KEY, repr(time.time()), ex=3600)


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return Check("database", False, f"unreachable: {type(exc).__name__}")
    return Check("database", True, "ok")


def check_redis() -> Check:
    try:
        _redis().ping()
    except Exception as exc:
        return Check("redis", False, f"unreachable: {type(exc).__name__}")
    return Check("redis", True, "ok")


def check_worker() -> Check:
    try:
        raw = _redis().get(HEARTBEAT_KEY)
    except Exception as exc:
        return Check("worker", False, f"unknown, Redis unreachable: {type(exc).__name__}")
    if raw is None:
        return Check("worker", False, "no heartbeat yet")
    age = max(0.0, time.time() - float(raw))
    ok = age <= settings.HEARTBEAT_MAX_AGE_SECONDS
    return Check("worker", ok, "ok" if ok else "heartbeat too old", age)


def check_beat() -> Check:
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    try:
        task = PeriodicTask.objects.filter(name=BEAT_TASK_NAME).only("last_run_at").first()
    except Exception as exc:
        return Check("beat", False, f"unknown: {type(exc).__name__}")
    if task is None or task.last_run_at is None:
        return Check("beat", False, "has not scheduled the heartbeat yet")
    age = max(0.0, (timezone.now() - task.last_run_at).total_seconds())
    ok = age <= settings.HEARTBEAT_MAX_AGE_SECONDS
    return Check("beat", ok, "ok" if ok else "last schedule too old", age)


def run_checks() -> list[Check]:
    """Run every check; a failing part never hides the others."""
    database = check_database()
    checks = [database, check_redis(), check_worker()]
    checks.append(check_beat() if database.ok else Check("beat", False, "unknown, database down"))
    return checks
