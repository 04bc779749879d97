"""Embedded servers for a fresh machine: real PostgreSQL and Redis, reused and stopped."""

import os
import shutil

import psycopg
import pytest
import redis

from config import embedded


@pytest.fixture
def var_dir(monkeypatch):
    """A private ./var for the test: pgserver's own user must reach it (not so /tmp/pytest-*)."""
    path = embedded.BASE_DIR / "var" / f"test-embedded-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    monkeypatch.setattr(embedded, "VAR_DIR", path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_embedded_services_start_real_servers_and_stop_what_they_started(var_dir, monkeypatch):
    tmp_path = var_dir
    environ: dict[str, str] = {}
    with embedded.services(environ) as env:
        from config.env import database

        monkeypatch.setenv("DATABASE_URL", env["DATABASE_URL"])
        db = database()
        with psycopg.connect(host=db["HOST"], dbname=db["NAME"], user=db["USER"]) as conn:
            assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
        client = redis.Redis.from_url(env["REDIS_URL"])
        client.set("peregrine:embedded-test", "ok")
        assert client.get("peregrine:embedded-test") == b"ok"
        port = int((tmp_path / "redis" / "redis.port").read_text())

        # a second user of the same ./var reuses the running servers and leaves them running
        with embedded.services({}) as again:
            assert again["REDIS_URL"] == env["REDIS_URL"]
        assert redis.Redis.from_url(env["REDIS_URL"]).ping()
    assert not embedded._redis_ping(port)
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


def test_set_urls_are_used_as_given(var_dir):
    tmp_path = var_dir
    given = {"DATABASE_URL": "postgres://u@db/x", "REDIS_URL": "redis://cache:6379/0"}
    with embedded.services(dict(given)) as env:
        assert env == given
    assert not (tmp_path / "postgres").exists()
