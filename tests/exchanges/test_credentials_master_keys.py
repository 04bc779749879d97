"""Master key configuration: production refuses to start without one; bad keys are named."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(**env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("PEREGRINE_MASTER_KEYS")}
    base.update(
        {
            "PEREGRINE_ENV": "production",
            "DJANGO_SECRET_KEY": "p" * 60,
            "AUDIT_ANCHOR_KEY": "a" * 40,
            "DJANGO_ALLOWED_HOSTS": "peregrine.example",
            "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1/x"),
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **env,
        }
    )
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(len(settings.PEREGRINE_MASTER_KEYS))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_a_master_key_fails_clearly():
    result = _start()
    assert result.returncode != 0
    assert "PEREGRINE_MASTER_KEYS: required in production" in result.stderr


def test_production_with_a_malformed_key_names_it():
    result = _start(PEREGRINE_MASTER_KEYS="not-a-key")
    assert result.returncode != 0
    assert "PEREGRINE_MASTER_KEYS: key #1 is not base64 of 32 random bytes" in result.stderr


@pytest.mark.parametrize("via_file", [False, True])
def test_production_reads_a_key_list_from_env_or_file(tmp_path, via_file):
    keys = [base64.b64encode(os.urandom(32)).decode() for _ in range(2)]
    if via_file:
        path = tmp_path / "keys"
        path.write_text("\n".join(keys) + "\n")
        result = _start(PEREGRINE_MASTER_KEYS_FILE=str(path))
    else:
        result = _start(PEREGRINE_MASTER_KEYS=",".join(keys))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    assert keys[0] not in result.stdout + result.stderr
