"""`make run`: the whole platform in one command, as supervised child processes.

Starts embedded PostgreSQL/Redis when DATABASE_URL/REDIS_URL are unset (config.embedded), migrates,
creates the operator account on first run (printing its password once), then runs the ASGI web
server, a Celery worker, Celery beat and any extra processes named in PEREGRINE_RUN_EXTRA, each
with a prefixed log. Ctrl-C (or SIGTERM) stops every child, then the embedded servers; children
die with this process even if it is killed outright (PR_SET_PDEATHSIG), so nothing is orphaned.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from config import embedded

PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_SECONDS = 15
COLOURS = ["36", "33", "35", "32", "34", "31", "96", "93"]


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    threads: list[threading.Thread] = field(default_factory=list)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the supervisor goes away."""
    os.setpgrp()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _pump(child: Child, stream, colour: str) -> None:
    prefix = (
        f"\033[{colour}m{child.name:>7} |\033[0m " if sys.stdout.isatty() else f"{child.name:>7} | "
    )
    for line in iter(stream.readline, b""):
        sys.stdout.write(prefix + line.decode("utf-8", "replace"))
        sys.stdout.flush()


def _say(message: str) -> None:
    print(f"{'run':>7} | {message}", flush=True)


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], env=env, text=True, capture_output=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed with exit code {result.returncode}")
    return result


def _prepare(env: dict[str, str]) -> None:
    started = time.monotonic()
    # one Django start-up for both steps: migrating and the first-run operator account
    script = (
        "from django.core.management import call_command; "
        "call_command('migrate', interactive=False, verbosity=0); "
        "call_command('ensure_operator')"
    )
    if env.get("PEREGRINE_DEMO", "true").lower() in ("1", "true", "yes", "on"):
        script += "; call_command('demo_seed')"  # the demo user and its three paper bots
    result = _manage("shell", "--no-imports", "-c", script, env=env)
    _say(f"database migrated ({time.monotonic() - started:.1f}s)")
    for line in result.stdout.splitlines():
        _say(line)


def _children(env: dict[str, str]) -> list[Child]:
    host = env.get("PEREGRINE_HOST", "127.0.0.1")
    port = env.get("PEREGRINE_PORT", "8000")
    workers = env.get("PEREGRINE_WORKER_CONCURRENCY", "2")
    bots = env.get("PEREGRINE_BOT_CONCURRENCY", "50")
    collectors = env.get("PEREGRINE_MARKETDATA_CONCURRENCY", "3")
    backtests = env.get("PEREGRINE_BACKTEST_CONCURRENCY", "2")
    # one web process per core: a request holds the GIL while it renders
    web = env.get("PEREGRINE_WEB_WORKERS", str(min(os.cpu_count() or 1, 4)))
    scheduler = "django_celery_beat.schedulers:DatabaseScheduler"
    commands = {
        "web": f"-m uvicorn config.asgi:application --host {host} --port {port} "
        f"--no-access-log --lifespan off --workers {web}",
        "worker": f"-m celery -A config worker -Q default -c {workers} -n worker@%h",
        # bot loops and collectors hold a process each for a whole slice: each kind gets a
        # worker of its own, so beat's short tasks (heartbeat, risk sweep) never wait behind them
        # a thread per bot: a slice waits on market events most of the time, and one process
        # runs many bots (a warm shutdown hands them over at once)
        "bots": f"-m celery -A config worker -Q bots -P threads -c {bots} -n bots@%h",
        "market": f"-m celery -A config worker -Q marketdata -c {collectors} -n marketdata@%h",
        # backtests are CPU-bound replays of minutes: processes of their own (prefork)
        "backtests": f"-m celery -A config worker -Q backtests -c {backtests} -n backtests@%h",
        "beat": f"-m celery -A config beat --scheduler {scheduler} --pidfile=",
        "sandbox": f"manage.py sandbox_exchange --demo-user demo{_demo_offset(env)}",
    }
    commands.update(item.split("=", 1) for item in _extra_commands(env))
    return [Child(name, [sys.executable, *args.split()]) for name, args in commands.items()]


def _demo_offset(env: dict[str, str]) -> str:
    """The second sandbox venue trades 40 bp above the first: after 20 bp of fees on the two
    legs, the demo's cross-exchange maker has an edge to quote on (10 bp, the sandbox's default,
    leaves none)."""
    venues = [v for v in env.get("PEREGRINE_SANDBOX_VENUES", "sandbox,sandbox-b").split(",") if v]
    return f" --offset {venues[1].strip()}=40" if len(venues) > 1 else ""


def _extra_commands(env: dict[str, str]) -> list[str]:
    """Extra processes, `name=args` separated by `;` (args run with this Python; a name that
    is already used replaces that process)."""
    raw = env.get("PEREGRINE_RUN_EXTRA", "")
    return [item.strip() for item in raw.split(";") if item.strip()]


def _start(children: list[Child], env: dict[str, str]) -> None:
    for index, child in enumerate(children):
        child.process = subprocess.Popen(
            child.argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            cwd=embedded.BASE_DIR,
        )
        thread = threading.Thread(
            target=_pump,
            args=(child, child.process.stdout, COLOURS[index % len(COLOURS)]),
            daemon=True,
        )
        thread.start()
        child.threads.append(thread)


def _stop(children: list[Child]) -> None:
    for child in children:
        if child.process and child.process.poll() is None:
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children:
        if not child.process:
            continue
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{child.name} did not stop in {STOP_TIMEOUT_SECONDS}s, killing it")
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
        for thread in child.threads:
            thread.join(timeout=2)


def main() -> int:
    started = time.monotonic()
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with embedded.services() as environ:
        env = dict(environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        env.setdefault("PYTHONUNBUFFERED", "1")
        _prepare(env)
        children = _children(env)
        _start(children, env)
        url = (
            f"http://{env.get('PEREGRINE_HOST', '127.0.0.1')}:{env.get('PEREGRINE_PORT', '8000')}/"
        )
        _say(f"Peregrine is starting at {url} (health: {url}healthz); Ctrl-C stops everything")
        _say(f"processes started in {time.monotonic() - started:.1f}s")
        _say(
            f"management commands: {embedded.MANAGE_COMMAND} <command> in another terminal "
            "(it uses these servers)"
        )
        exit_code = 0
        while not stopping.wait(0.5):
            dead = [c for c in children if c.process and c.process.poll() is not None]
            if dead:
                _say(f"{dead[0].name} exited with {dead[0].process.returncode}; stopping")
                exit_code = 1
                break
        _say("stopping")
        _stop(children)
    _say("stopped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
