"""`make run`'s supervisor brings the platform to healthy and Ctrl-C leaves no process behind."""

import json
import os
import signal
import subprocess
import sys
import urllib.request

import psutil

from tests.conftest import BASE_DIR, free_port, wait_until

# seconds: a hang guard for a loaded 2-core machine (six processes start, each importing Django and
# the app; about a minute here with other test runs alongside), never a pass condition
HANG_GUARD = 240  # under the suite's 300 s per-test timeout


def _healthz(port: int):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except Exception:
        return None


def _cmdline(process: psutil.Process) -> str:
    """A child's command line; '' for one that has just exited (a worker's pool recycling a
    process, say) and is not reaped yet."""
    try:
        return " ".join(process.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return ""


def test_run_reaches_healthy_and_ctrl_c_stops_every_child(process_env):
    port = free_port()
    env = {
        **process_env,
        "PEREGRINE_PORT": str(port),
        "PEREGRINE_WORKER_CONCURRENCY": "1",
        "PEREGRINE_RUN_EXTRA": "",
    }
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "config.run"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body = wait_until(
            lambda: (b := _healthz(port)) and b["status"] == "ok" and b,
            timeout=HANG_GUARD,
            interval=0.5,
            what="healthz ok",
        )
        assert body["failing"] == []
        children = psutil.Process(supervisor.pid).children(recursive=True)
        names = " ".join(_cmdline(child) for child in children)
        for part in (
            "uvicorn",
            "-Q default",
            "-Q bots",
            "-Q marketdata",
            " beat ",
            "sandbox_exchange",
        ):
            assert part in names, part
        # Ctrl-C in a terminal signals the whole foreground process group
        os.killpg(supervisor.pid, signal.SIGINT)
        output = supervisor.communicate(timeout=60)[0].decode()
        assert supervisor.returncode == 0, output
        assert "stopped" in output
        # a clean stop: no child (web, workers, beat, sandbox) prints a traceback on the way out
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
        assert [
            child.pid
            for child in children
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        ] == []
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
