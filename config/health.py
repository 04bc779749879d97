"""Health of the platform's parts: database, Redis, worker heartbeat and beat."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

HEARTBEAT_KEY = f"peregrine:{settings.PEREGRINE_ENV}:worker-heartbeat"
BEAT_KEY = f"peregrine:{settings.PEREGRINE_ENV}:beat-heartbeat"


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


def beat_record() -> None:
    """Store the current time as the last time beat sent the heartbeat task."""
    _redis().set(BEAT_KEY, repr(time.time()), ex=3600)


def _age_check(name: str, key: str, missing: str) -> Check:
    try:
        raw = _redis().get(key)
    except Exception as exc:
        return Check(name, False, f"unknown, Redis unreachable: {type(exc).__name__}")
    if raw is None:
        return Check(name, False, missing)
    age = max(0.0, time.time() - float(raw))
    ok = age <= settings.HEARTBEAT_MAX_AGE_SECONDS
    return Check(name, ok, "ok" if ok else "heartbeat too old", age)


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
    return _age_check("worker", HEARTBEAT_KEY, "no heartbeat yet")


def check_beat() -> Check:
    return _age_check("beat", BEAT_KEY, "has not sent the heartbeat yet")


def run_checks() -> list[Check]:
    """Run every check; a failing part never hides the others."""
    return [check_database(), check_redis(), check_worker(), check_beat()]
