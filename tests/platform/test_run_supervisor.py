"""`make run` restarts a crashed child (backoff, limit) instead of stopping everything, and
/healthz shows each child's state and restarts. Real processes, SIGKILLed for real."""

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import psutil
import pytest
import redis
from django.conf import settings

from tests.conftest import BASE_DIR, free_port, wait_until

HANG_GUARD = 180  # seconds; a hang guard for a loaded 2-core machine, never a pass condition


class Supervisor:
    """`python -m config.run` in a session of its own, its output collected as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "config.run"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in iter(self.process.stdout.readline, b""):
            self.lines.append(line.decode("utf-8", "replace"))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def child(self, part: str) -> psutil.Process | None:
        """The direct child whose command line holds `part`."""
        for child in psutil.Process(self.process.pid).children():
            try:
                if part in " ".join(child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                continue
        return None

    def wait(self, timeout: float = HANG_GUARD) -> str:
        self.process.wait(timeout)
        self.reader.join(10)
        return self.output

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def supervisor():
    started: list[Supervisor] = []

    def start(env: dict[str, str]) -> Supervisor:
        started.append(Supervisor(env))
        return started[-1]

    yield start
    for each in started:
        each.kill()


def _healthz(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:  # 503 still carries the body
        return json.loads(error.read())
    except Exception:
        return None


def _alive(process: psutil.Process) -> bool:
    return process.is_running() and process.status() != psutil.STATUS_ZOMBIE


def test_a_killed_child_is_restarted_the_others_keep_running_and_healthz_shows_it(
    process_env, supervisor, tmp_path
):
    # slice messages left on the bots queue by earlier tests name bots this database lacks
    # (their runner fails loudly on them); this test is about the processes, not those bots
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("bots")
    client.close()
    port = free_port()
    state = tmp_path / "supervisor.json"
    run = supervisor(
        {
            **process_env,
            "PEREGRINE_PORT": str(port),
            "PEREGRINE_WEB_WORKERS": "2",
            "PEREGRINE_WORKER_CONCURRENCY": "1",
            "PEREGRINE_RUN_EXTRA": "",
            "PEREGRINE_DEMO": "false",
            "PEREGRINE_RUN_STATE": str(state),
        }
    )
    body = wait_until(
        lambda: (b := _healthz(port)) and b["status"] == "ok" and b,
        timeout=HANG_GUARD, interval=0.5, what="healthz ok",
    )  # fmt: skip
    processes = body["checks"]["processes"]
    assert processes["ok"] is True
    assert set(processes["children"]) == {
        "web", "worker", "bots", "market", "backtests", "beat", "sandbox",
    }  # fmt: skip
    children = processes["children"].values()
    assert all(c["state"] == "running" and c["restarts"] == 0 for c in children)

    # SIGKILL the bots worker: it comes back, nothing else is restarted
    bots = run.child("-Q bots")
    others = {name: run.child(part) for name, part in [("web", "uvicorn"), ("beat", " beat ")]}
    os.kill(bots.pid, signal.SIGKILL)
    body = wait_until(
        lambda: (b := _healthz(port))
        and b["checks"]["processes"]["children"]["bots"]["restarts"] == 1
        and b["status"] == "ok"
        and b,
        timeout=HANG_GUARD, interval=0.5, what="the bots worker restarted and healthz ok",
    )  # fmt: skip
    child = body["checks"]["processes"]["children"]["bots"]
    assert child["state"] == "running"
    assert child["last_exit"] == "killed by SIGKILL"
    assert child["pid"] != bots.pid and child["pid"] == run.child("-Q bots").pid
    assert body["checks"]["processes"]["detail"] == "7 running, 1 restarts"
    assert all(_alive(process) for process in others.values())
    assert "bots exited (killed by SIGKILL); restarting it in 1 s" in run.output

    # SIGKILL the web server (uvicorn's parent, whose workers hold the port): it serves again
    web = run.child("uvicorn")
    web_workers = web.children()
    os.kill(web.pid, signal.SIGKILL)
    body = wait_until(
        lambda: (b := _healthz(port))
        and b["checks"]["processes"]["children"]["web"]["restarts"] == 1
        and b,
        timeout=HANG_GUARD, interval=0.5, what="the web server restarted",
    )  # fmt: skip
    assert not any(_alive(worker) for worker in web_workers)  # the old workers were ended
    assert body["checks"]["processes"]["children"]["bots"]["restarts"] == 1

    # Ctrl-C (SIGINT to the process group) still stops everything, without a traceback
    children = psutil.Process(run.process.pid).children(recursive=True)
    os.killpg(run.process.pid, signal.SIGINT)
    output = run.wait()
    assert run.process.returncode == 0, output
    assert "stopped" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert [child.pid for child in children if _alive(child)] == []
    assert not state.exists()  # the state file goes with the supervisor


def test_a_child_crashing_past_the_limit_stops_everything_saying_which_and_why(
    process_env, supervisor, tmp_path
):
    run = supervisor(
        {
            **process_env,
            "PEREGRINE_DEMO": "false",
            # a process that keeps running, and one that exits at once, every time
            "PEREGRINE_RUN_EXTRA": "sleeper=-c __import__('time').sleep(600);crasher=-c exit(3)",
            "PEREGRINE_RUN_ONLY": "sleeper,crasher",
            "PEREGRINE_RUN_MAX_RESTARTS": "3",
            "PEREGRINE_RUN_BACKOFF_SECONDS": "0.2",
            "PEREGRINE_RUN_STATE": str(tmp_path / "supervisor.json"),
        }
    )
    sleeper = wait_until(lambda: run.child("sleep(600)"), timeout=HANG_GUARD, what="sleeper")
    output = run.wait()
    assert run.process.returncode == 1, output
    # the backoff doubles with each crash, and the other process ran on meanwhile
    for delay, crash in [("0.2", 1), ("0.4", 2), ("0.8", 3)]:
        assert (
            f"crasher exited (exit code 3); restarting it in {delay} s "
            f"(crash {crash} of at most 3 within 600 s)"
        ) in output
    assert "crasher restarted" in output
    assert (
        "crasher exited (exit code 3) 4 times within 600 s, more than "
        "PEREGRINE_RUN_MAX_RESTARTS=3; stopping everything"
    ) in output
    assert "sleeper exited" not in output and "sleeper restarted" not in output
    assert output.rstrip().endswith("stopped"), output
    assert "Traceback" not in output, output
    assert not _alive(sleeper)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PEREGRINE_RUN_MAX_RESTARTS", "many", "PEREGRINE_RUN_MAX_RESTARTS='many' is not a number"),
        ("PEREGRINE_RUN_BACKOFF_SECONDS", "-1", "is below its minimum 0"),
        ("PEREGRINE_RUN_ONLY", "web,nosuch", "PEREGRINE_RUN_ONLY names nosuch"),
    ],
)
def test_a_bad_supervisor_setting_stops_make_run_before_it_starts_anything(
    process_env, supervisor, tmp_path, name, value, message
):
    run = supervisor({**process_env, name: value, "PEREGRINE_RUN_STATE": str(tmp_path / "s.json")})
    output = run.wait()
    assert run.process.returncode == 1
    assert message in output
    assert "Traceback" not in output
    assert "database migrated" not in output  # nothing was done


def _state(path, pid: int, children: dict) -> None:
    path.write_text(json.dumps({"supervisor_pid": pid, "children": children, "max_restarts": 5}))


def test_healthz_names_a_child_waiting_to_restart_and_a_supervisor_that_is_gone(
    client, db, monkeypatch, tmp_path
):
    path = tmp_path / "supervisor.json"
    monkeypatch.setenv("PEREGRINE_RUN_STATE", str(path))
    running = {"state": "running", "pid": 1234, "restarts": 0, "last_exit": None, "since": 1.0}
    waiting = {**running, "state": "restarting", "pid": None, "restarts": 2,
               "last_exit": "killed by SIGKILL"}  # fmt: skip
    _state(path, os.getpid(), {"web": running, "bots": waiting})
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert "processes" in body["failing"]
    check = body["checks"]["processes"]
    assert check["detail"] == "bots restarting"
    assert check["children"]["bots"] == waiting

    _state(path, os.getpid(), {"web": running, "bots": {**waiting, "state": "running"}})
    check = client.get("/healthz").json()["checks"]["processes"]
    assert (check["ok"], check["detail"]) == (True, "2 running, 2 restarts")

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _state(path, gone.pid, {"web": running})
    check = client.get("/healthz").json()["checks"]["processes"]
    assert (check["ok"], check["detail"]) == (False, "the supervisor is gone")

    path.write_text("{not json")
    check = client.get("/healthz").json()["checks"]["processes"]
    assert (check["ok"], check["detail"]) == (False, "supervisor state unreadable: JSONDecodeError")


def test_healthz_has_no_processes_check_outside_make_run(client, db, monkeypatch):
    monkeypatch.delenv("PEREGRINE_RUN_STATE", raising=False)
    assert "processes" not in client.get("/healthz").json()["checks"]
