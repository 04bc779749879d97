"""A local HTTP server that records what notification channels deliver, and eager Celery."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes
    at: float = 0.0

    def json(self) -> dict:
        return json.loads(self.body)

    def form(self) -> dict:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


@dataclass
class HookServer:
    """Answers each request with the next queued status (then `default`), recording them all."""

    port: int
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, scheme: str = "json", path: str = "/hook") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else self.default


@pytest.fixture
def hook_server():
    holder: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            server: HookServer = holder["server"]
            body = self.rfile.read(length)
            server.received.append(
                Received(
                    self.command, self.path, dict(self.headers.items()), body, time.monotonic()
                )
            )
            status = server.next_status()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["server"] = HookServer(port=httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield holder["server"]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def make_channel(db):
    from notifications.services import notification_channel_create

    def make(user, *, target, kind="webhook", label=None, events=None, **extra):
        return notification_channel_create(
            user=user,
            kind=kind,
            label=label or f"{kind} channel",
            target=target,
            events=events if events is not None else ["bot_started", "fill", "bot_error"],
            **extra,
        )

    return make
