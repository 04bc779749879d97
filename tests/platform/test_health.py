"""/healthz reports every part, and comes up once a real worker and beat run."""

import redis
from django.conf import settings

from config import health
from tests.conftest import wait_until


def _clear_heartbeats():
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(health.HEARTBEAT_KEY, health.BEAT_KEY)


def test_healthz_is_503_naming_worker_and_beat_without_heartbeats(client, db):
    _clear_heartbeats()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["worker", "beat"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True


def test_healthz_names_a_stale_heartbeat(client, db, settings):
    _clear_heartbeats()
    health.heartbeat_record()
    health.beat_record()
    assert client.get("/healthz").status_code == 200
    settings.HEARTBEAT_MAX_AGE_SECONDS = -1
    body = client.get("/healthz").json()
    assert body["checks"]["worker"]["detail"] == "heartbeat too old"


def test_healthz_reports_redis_down(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "redis" in response.json()["failing"]


def test_healthz_turns_200_with_a_real_worker_and_beat(client, child_processes):
    _clear_heartbeats()
    assert client.get("/healthz").status_code == 503
    child_processes.start(
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        "default",
        "--concurrency",
        "1",
        "--pool",
        "solo",
        "-n",
        "health-test@%h",
        "--without-mingle",
        "--without-gossip",
    )
    child_processes.start(
        "-m",
        "celery",
        "-A",
        "config",
        "beat",
        "--scheduler",
        "django_celery_beat.schedulers:DatabaseScheduler",
        "--pidfile",
        "",
    )
    response = wait_until(
        lambda: (r := client.get("/healthz")).status_code == 200 and r,
        timeout=90,
        interval=0.5,
        what="healthz 200",
    )
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    # the worker really ran a task that beat scheduled, not just started
    wait_until(
        lambda: client.get("/healthz").json()["checks"]["worker"]["age_seconds"] < 12,
        timeout=30,
        interval=0.5,
        what="a heartbeat executed by the worker",
    )
