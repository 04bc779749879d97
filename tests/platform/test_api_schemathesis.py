"""The schema is the API: schemathesis over every operation of the OpenAPI schema, against the
real ASGI app under uvicorn (this test's database, a seeded user's trade-scope token), with all
of its default checks (server errors, documented statuses and content types, response shapes,
invalid data refused, valid data accepted, auth) finds nothing.

CI-sized: a bounded number of examples per operation (`PEREGRINE_SCHEMATHESIS_EXAMPLES`, default
12) and a fixed seed, so a run is repeatable; bench/api_schemathesis.py runs the longer one. The
only configured exception is in tests/platform/schemathesis.toml, with its reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BASE_DIR, free_port, wait_until

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = int(os.environ.get("PEREGRINE_SCHEMATHESIS_EXAMPLES", "12"))


def run_schemathesis(base: str, token: str, workdir: Path, *, examples: int, seed: int):
    """Run the CLI; return (exit code, its output, the JSON run report)."""
    report = workdir / "schemathesis.json"
    argv = [
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{base}/api/schema/",
        "-H", f"Authorization: Bearer {token}", "--max-examples", str(examples),
        "--seed", str(seed), "--workers", "1", "--request-timeout", "30",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    # a hang guard, not a budget: the CI-sized run takes about a minute
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=900)
    return done.returncode, done.stdout + done.stderr, json.loads(report.read_text())


def start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """uvicorn serving config.asgi on a free port, its output in a file (never a full pipe)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--lifespan", "off", "--no-access-log"],
        env=env, cwd=BASE_DIR, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up():
        assert server.poll() is None, log.read_text()[-4000:]
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return True
        except Exception as exc:  # 4xx/5xx still prove the server answers
            return getattr(exc, "code", None) is not None

    wait_until(up, timeout=60, interval=0.2, what="uvicorn")
    return server, base


def stop_server(server: subprocess.Popen) -> None:
    import signal

    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed")
def test_schemathesis_default_checks_find_nothing(process_env, alice, api_token_for, tmp_path):
    token = api_token_for(alice, "trade")
    # the request rate limit is a documented 429, but it would leave operations untested
    env = {**process_env, "PEREGRINE_API_RATE_USER": "1000000/min"}
    server, base = start_server(env, tmp_path / "server.log")
    try:
        code, output, report = run_schemathesis(
            base, token, tmp_path, examples=EXAMPLES, seed=20261203
        )
    finally:
        stop_server(server)
    operations, cases = report["operations"], report["test_cases"]
    print(
        f"schemathesis: {operations['tested']}/{operations['total']} operations, "
        f"{cases['generated']} test cases, {len(report['failures'])} failures, "
        f"{len(report['errors'])} errors"
    )
    assert operations["tested"] == operations["total"] > 40, output[-6000:]
    assert report["failures"] == [] and report["errors"] == [], output[-12000:]
    assert code == 0, output[-12000:]
