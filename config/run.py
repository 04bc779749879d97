"""`make run`: the whole platform in one command, as supervised child processes.

Starts embedded PostgreSQL/Redis when DATABASE_URL/REDIS_URL are unset (config.embedded), migrates,
creates the operator account on first run (printing its password once), then runs the ASGI web
server, a Celery worker, Celery beat and any extra processes named in PEREGRINE_RUN_EXTRA, each
with a prefixed log (PEREGRINE_RUN_ONLY=web,beat,... runs only the processes named, e.g. one
kind per host). Ctrl-C (or SIGTERM) stops every child, then the embedded servers; children
die with this process even if it is killed outright (PR_SET_PDEATHSIG), so nothing is orphaned.

A child that exits on its own (crashed, killed) is started again after a backoff that doubles
with each crash (PEREGRINE_RUN_BACKOFF_SECONDS, 1 s, up to PEREGRINE_RUN_BACKOFF_MAX_SECONDS,
30 s); the others keep running. More than PEREGRINE_RUN_MAX_RESTARTS (5) crashes of one child
within PEREGRINE_RUN_RESTART_WINDOW_SECONDS (600 s) stop everything, saying which child and why.
Each child's state (running, restarting, stopped), pid, restarts and last exit are written to a
JSON file (PEREGRINE_RUN_STATE, var/run/supervisor-<pid>.json) that /healthz reports.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from config import embedded

PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_SECONDS = 15
COLOURS = ["36", "33", "35", "32", "34", "31", "96", "93"]


@dataclass(frozen=True)
class Policy:
    """When a crashed child is started again, and when the supervisor gives up."""

    max_restarts: int = 5
    window_seconds: float = 600.0
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 30.0

    def backoff(self, recent_crashes: int) -> float:
        """1 s after the first crash in the window, then 2 s, 4 s, ... up to the maximum."""
        return min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(0, recent_crashes - 1))


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    threads: list[threading.Thread] = field(default_factory=list)
    state: str = "starting"  # running, restarting (waiting out its backoff), stopped
    restarts: int = 0
    crashes: deque = field(default_factory=deque)  # monotonic times of crashes in the window
    last_exit: str = ""
    restart_at: float = 0.0
    since: float = field(default_factory=time.time)

    def as_dict(self) -> dict:
        return {
            "state": self.state,
            "pid": self.process.pid if self.process and self.state == "running" else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit or None,
            "since": round(self.since, 3),
        }


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


def _number(env: dict[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SystemExit(f"{name}={raw!r} is below its minimum {minimum:g}")
    return value


def _policy(env: dict[str, str]) -> Policy:
    """The restart policy from the environment; a bad value stops `make run` saying which."""
    policy = Policy(
        max_restarts=int(_number(env, "PEREGRINE_RUN_MAX_RESTARTS", 5, 0)),
        window_seconds=_number(env, "PEREGRINE_RUN_RESTART_WINDOW_SECONDS", 600, 1),
        backoff_seconds=_number(env, "PEREGRINE_RUN_BACKOFF_SECONDS", 1, 0),
        backoff_max_seconds=_number(env, "PEREGRINE_RUN_BACKOFF_MAX_SECONDS", 30, 0),
    )
    if policy.backoff_max_seconds < policy.backoff_seconds:
        raise SystemExit(
            "PEREGRINE_RUN_BACKOFF_MAX_SECONDS must not be below PEREGRINE_RUN_BACKOFF_SECONDS"
        )
    return policy


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class StateFile:
    """Every child's state as JSON, replaced atomically, for /healthz (config.health)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, children: list[Child], policy: Policy, status: str = "running") -> None:
        data = {
            "supervisor_pid": os.getpid(),
            "status": status,
            "updated": round(time.time(), 3),
            "max_restarts": policy.max_restarts,
            "window_seconds": policy.window_seconds,
            "children": {child.name: child.as_dict() for child in children},
        }
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(data, indent=1))
        partial.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


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
    if env.get("PEREGRINE_TELEGRAM_BOT_TOKEN"):  # Telegram control (notifications.telegram)
        commands["telegram"] = "manage.py telegram_bot"
    commands.update(item.split("=", 1) for item in _extra_commands(env))
    only = [name.strip() for name in env.get("PEREGRINE_RUN_ONLY", "").split(",") if name.strip()]
    unknown = [name for name in only if name not in commands]
    if unknown:
        raise SystemExit(
            f"PEREGRINE_RUN_ONLY names {', '.join(unknown)}, which make run does not start "
            f"(it knows {', '.join(commands)})"
        )
    return [
        Child(name, [sys.executable, *args.split()])
        for name, args in commands.items()
        if not only or name in only
    ]


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


def _spawn(child: Child, env: dict[str, str], colour: str) -> None:
    child.process = subprocess.Popen(
        child.argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
        cwd=embedded.BASE_DIR,
    )
    child.state, child.since = "running", time.time()
    thread = threading.Thread(target=_pump, args=(child, child.process.stdout, colour), daemon=True)
    thread.start()
    child.threads = [t for t in child.threads if t.is_alive()] + [thread]


def _kill_leftovers(child: Child) -> None:
    """A child killed outright leaves its own children (uvicorn's or Celery's pool processes,
    holding the port or the queue) in its process group: end them before starting it again."""
    try:
        os.killpg(child.process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _start(children: list[Child], env: dict[str, str]) -> None:
    for index, child in enumerate(children):
        _spawn(child, env, COLOURS[index % len(COLOURS)])


def _supervise(children: list[Child], env: dict[str, str], policy: Policy) -> str | None:
    """One look at every child: note crashes, restart those whose backoff is over.

    Returns why the supervisor must give up (a child past its restart limit), else None.
    """
    now = time.monotonic()
    for index, child in enumerate(children):
        if child.state == "running" and child.process.poll() is not None:
            child.last_exit = _exit_text(child.process.returncode)
            _kill_leftovers(child)
            child.crashes.append(now)
            while child.crashes and now - child.crashes[0] > policy.window_seconds:
                child.crashes.popleft()
            recent = len(child.crashes)
            if recent > policy.max_restarts:
                child.state, child.since = "stopped", time.time()
                return (
                    f"{child.name} exited ({child.last_exit}) {recent} times within "
                    f"{policy.window_seconds:g} s, more than PEREGRINE_RUN_MAX_RESTARTS="
                    f"{policy.max_restarts}; stopping everything"
                )
            delay = policy.backoff(recent)
            child.state, child.since, child.restart_at = "restarting", time.time(), now + delay
            _say(
                f"{child.name} exited ({child.last_exit}); restarting it in {delay:g} s "
                f"(crash {recent} of at most {policy.max_restarts} within "
                f"{policy.window_seconds:g} s); the other processes keep running"
            )
        elif child.state == "restarting" and now >= child.restart_at:
            _spawn(child, env, COLOURS[index % len(COLOURS)])
            child.restarts += 1
            _say(f"{child.name} restarted (pid {child.process.pid}, restart {child.restarts})")
    return None


def _stop(children: list[Child]) -> None:
    # SIGTERM to each child itself, not its process group: Celery's and uvicorn's parents stop
    # their own pool processes in order (a pool process signalled directly during a warm
    # shutdown makes Celery try to replace it and fail loudly); what is left is killed after
    for child in children:
        if child.process and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children:
        child.state = "stopped"
        if not child.process:
            continue
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{child.name} did not stop in {STOP_TIMEOUT_SECONDS}s, killing it")
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
        _kill_leftovers(child)
        for thread in child.threads:
            thread.join(timeout=2)


def main() -> int:
    started = time.monotonic()
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    policy = _policy(dict(os.environ))
    with embedded.services() as environ:
        env = dict(environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        env.setdefault("PYTHONUNBUFFERED", "1")
        default_state = embedded.VAR_DIR / "run" / f"supervisor-{os.getpid()}.json"
        env["PEREGRINE_RUN_STATE"] = env.get("PEREGRINE_RUN_STATE") or str(default_state)
        state = StateFile(Path(env["PEREGRINE_RUN_STATE"]))
        children = _children(env)  # a bad PEREGRINE_RUN_ONLY stops here, before migrating
        _prepare(env)
        _start(children, env)
        state.write(children, policy)
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
        while not stopping.wait(0.25):
            before = [child.as_dict() for child in children]
            give_up = _supervise(children, env, policy)
            if give_up:
                _say(give_up)
                exit_code = 1
                break
            if [child.as_dict() for child in children] != before:
                state.write(children, policy)
        _say("stopping")
        state.write(children, policy, status="stopping")
        _stop(children)
        state.remove()
    _say("stopped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
