"""Health of the platform's parts: database, Redis, worker heartbeat and beat, and under
`make run` each supervised process (its state, pid, restarts and last exit)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

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
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = {"ok": self.ok, "detail": self.detail, **self.data}
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_processes(path: str) -> Check:
    """The supervisor's children (config.run writes their state to `path`)."""
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Check("processes", False, f"supervisor state unreadable: {type(exc).__name__}")
    children = state.get("children", {})
    data = {"children": children, "max_restarts": state.get("max_restarts")}
    if not _alive(int(state.get("supervisor_pid", 0))):
        return Check("processes", False, "the supervisor is gone", data=data)
    down = sorted(name for name, child in children.items() if child.get("state") != "running")
    if down:
        detail = ", ".join(f"{name} {children[name]['state']}" for name in down)
        return Check("processes", False, detail, data=data)
    restarted = sum(child.get("restarts", 0) for child in children.values())
    detail = f"{len(children)} running" + (f", {restarted} restarts" if restarted else "")
    return Check("processes", True, detail, data=data)


def run_checks() -> list[Check]:
    """Run every check; a failing part never hides the others."""
    checks = [check_database(), check_redis(), check_worker(), check_beat()]
    # set by `make run` (config.run) for its children; absent elsewhere (tests, containers)
    state = os.environ.get("PEREGRINE_RUN_STATE")
    if state:
        checks.append(check_processes(state))
    return checks
