"""Settings are read strictly: a missing or malformed variable stops start-up and names itself."""

import os
import subprocess
import sys

from tests.conftest import BASE_DIR

PRODUCTION_ENV = {
    "PEREGRINE_ENV": "production",
    "DJANGO_SECRET_KEY": "k3y-" + "x9Qz!7pLm#2vRt8wB5nYc0" * 3,
    "DJANGO_ALLOWED_HOSTS": "peregrine.example.com",
    "PEREGRINE_MASTER_KEYS": "bWFzdGVyLWtleS1mb3ItdGVzdHMtb25seS0zMmJ5dGU=",
    "AUDIT_ANCHOR_KEY": "audit-anchor-key-for-tests-only-" + "7Kq2" * 4,
}


def _django(env_changes: dict[str, str | None], *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_malformed_boolean_stops_start_up_naming_the_variable():
    result = _django({"DJANGO_DEBUG": "maybe"}, "check")
    assert result.returncode != 0
    assert "DJANGO_DEBUG: expected true/false, got 'maybe'" in result.stderr


def test_missing_database_url_stops_start_up_naming_it():
    # outside production manage.py starts the embedded servers instead (test_first_run.py)
    result = _django({**PRODUCTION_ENV, "DATABASE_URL": None, "DATABASE_URL_FILE": None}, "check")
    assert result.returncode != 0
    assert "DATABASE_URL: required environment variable is not set" in result.stderr


def test_non_postgres_database_is_refused():
    result = _django({"DATABASE_URL": "sqlite:///x.db"}, "check")
    assert result.returncode != 0
    assert "DATABASE_URL: Peregrine needs PostgreSQL" in result.stderr


def test_malformed_redis_url_is_refused():
    result = _django({"REDIS_URL": "localhost:6379"}, "check")
    assert result.returncode != 0
    assert "REDIS_URL: expected redis:// or rediss:// URL" in result.stderr


def test_production_without_secret_key_stops_start_up():
    result = _django({**PRODUCTION_ENV, "DJANGO_SECRET_KEY": None}, "check")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY: required environment variable is not set" in result.stderr


def test_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(PRODUCTION_ENV["DJANGO_SECRET_KEY"] + "\n")
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": None, "DJANGO_SECRET_KEY_FILE": str(secret_file)}
    result = _django(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


def test_production_settings_pass_check_deploy_with_no_warning():
    result = _django(PRODUCTION_ENV, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
