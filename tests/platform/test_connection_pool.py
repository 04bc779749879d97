"""The web server's database connection pool under a burst: 200 concurrent requests, no 5xx.

The real ASGI app runs under uvicorn in a child process with its pool capped at POOL_MAX
connections; 200 API requests are sent at once, each on its own TCP connection. Every one must
answer 200 (a request waits in the pool's queue, it is not refused), and the server must never
hold more than POOL_MAX connections to the database (sampled from pg_stat_activity throughout).
The pool's wait time-out is set high: it is a hang guard here, not a budget.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from django.db import connection

from tests.browser.conftest import serve

pytestmark = pytest.mark.django_db(transaction=True)

POOL_MAX = 4
APP_NAME = "peregrine-pool-test"
CONCURRENT = 200


class ConnectionSampler:
    """Peak count of the test database's connections other than the given backends."""

    def __init__(self, exclude: set[int]):
        import psycopg

        db = connection.settings_dict
        self.conn = psycopg.connect(
            dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or None,
            autocommit=True,
        )  # fmt: skip
        self.exclude = exclude | {self.conn.info.backend_pid}
        self.name = connection.settings_dict["NAME"]
        self.peak = 0
        self._stop = threading.Event()

    def now(self) -> int:
        # only the server under test: its connections carry APP_NAME (libpq's PGAPPNAME), so
        # processes of earlier tests still closing their connections are not counted
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            (self.name, APP_NAME),
        ).fetchall()
        return len({pid for (pid,) in rows} - self.exclude)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.conn.close()


async def _get(port: int, path: str, token: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        while await reader.read(65536):
            pass
        return status
    finally:
        writer.close()


async def _burst(port: int, path: str, token: str) -> list[int]:
    return await asyncio.wait_for(
        asyncio.gather(*(_get(port, path, token) for _ in range(CONCURRENT))), timeout=300
    )


def test_200_concurrent_requests_wait_for_a_pooled_connection(
    child_processes, alice, api_token_for
):
    token = api_token_for(alice)
    connection.ensure_connection()
    own = {connection.connection.info.backend_pid}
    child_processes.env.update(
        DATABASE_POOL_MIN_SIZE="1",
        DATABASE_POOL_MAX_SIZE=str(POOL_MAX),
        DATABASE_POOL_TIMEOUT="120",
        PGAPPNAME=APP_NAME,
    )
    port = int(serve(child_processes).rsplit(":", 1)[1])

    with ConnectionSampler(own) as sampler:
        statuses = asyncio.run(_burst(port, "/api/v1/me/", token))
        portfolio = asyncio.run(_burst(port, "/api/v1/portfolio/", token))

    assert len(statuses) == len(portfolio) == CONCURRENT
    assert {status for status in statuses + portfolio} == {200}
    assert 1 <= sampler.peak <= POOL_MAX


def _answer_during(exc: Exception, path: str):
    from django.test import RequestFactory

    from config.dbpool import server_error

    try:
        raise exc
    except Exception:
        return server_error(RequestFactory().get(path))


def test_an_exhausted_pool_answers_503_with_retry_after():
    from django.db import OperationalError
    from psycopg_pool import PoolTimeout

    try:
        raise OperationalError("couldn't get a connection") from PoolTimeout("after 10 s")
    except OperationalError as wrapped:
        api = _answer_during(wrapped, "/api/v1/me/")
        page = _answer_during(wrapped, "/trading/bots/")
    assert api.status_code == page.status_code == 503
    assert api["Retry-After"] == page["Retry-After"] == "1"
    assert json.loads(api.content)["error"]["code"] == "unavailable"
    assert _answer_during(ValueError("a bug"), "/api/v1/me/").status_code == 500
