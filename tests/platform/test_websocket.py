"""A real websocket against the running ASGI app (uvicorn child process), with session auth."""

import asyncio
import json

import pytest
import websockets
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import Client

from tests.conftest import free_port, wait_until


@pytest.fixture
def web(child_processes):
    port = free_port()
    child_processes.start(
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
    )

    def up():
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return True
        except Exception as exc:  # 4xx/5xx still prove the server answers
            return getattr(exc, "code", None) is not None

    wait_until(up, timeout=60, interval=0.2, what="uvicorn")
    return port


def _session_cookie(user, password) -> str:
    client = Client()
    assert client.login(email=user.email, password=password)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def _receive(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_signed_in_user_receives_own_group_events(web, alice, bob, password):
    cookie = _session_cookie(alice, password)
    url = f"ws://127.0.0.1:{web}/ws/events/"

    async def scenario():
        headers = {"Cookie": cookie, "Origin": "http://127.0.0.1"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            assert await _receive(ws) == {"type": "pong"}
            layer = get_channel_layer()
            # an event for bob first: alice must never see it
            await layer.group_send(
                f"user.{bob.pk}", {"type": "event.forward", "event": {"for": "bob"}}
            )
            await layer.group_send(
                f"user.{alice.pk}", {"type": "event.forward", "event": {"for": "alice"}}
            )
            assert await _receive(ws) == {"for": "alice"}

    async_to_sync(scenario)()


def test_anonymous_websocket_is_refused_at_handshake(web, db):
    async def scenario():
        headers = {"Origin": "http://127.0.0.1"}
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                f"ws://127.0.0.1:{web}/ws/events/", additional_headers=headers
            ):
                pass
        assert refused.value.response.status_code == 403

    async_to_sync(scenario)()


def test_foreign_origin_is_refused(web, alice, password):
    cookie = _session_cookie(alice, password)

    async def scenario():
        headers = {"Cookie": cookie, "Origin": "http://evil.example"}
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                f"ws://127.0.0.1:{web}/ws/events/", additional_headers=headers
            ):
                pass
        assert refused.value.response.status_code == 403

    async_to_sync(scenario)()


def _connect_status(port: int, cookie: str) -> int:
    async def scenario():
        headers = {"Cookie": cookie, "Origin": "http://127.0.0.1"}
        try:
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/ws/events/", additional_headers=headers
            ):
                return 101
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    return async_to_sync(scenario)()


def test_session_that_has_not_passed_the_otp_step_is_refused(web, alice, alice_totp, password):
    from django_otp import DEVICE_ID_SESSION_KEY

    client = Client()
    assert client.login(email=alice.email, password=password)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    assert _connect_status(web, cookie) == 403

    session = client.session
    session[DEVICE_ID_SESSION_KEY] = alice_totp.persistent_id
    session.save()
    assert _connect_status(web, cookie) == 101


def test_quiet_socket_stays_open_without_errors(web, child_processes, alice, password):
    """A page with no events keeps its socket: idle past the channel layer's 5 s blocking pop
    (which used to outlast redis-py's 5 s read timeout and kill the consumer), then still live."""
    import os
    import signal

    cookie = _session_cookie(alice, password)

    async def scenario():
        headers = {"Cookie": cookie, "Origin": "http://127.0.0.1"}
        async with websockets.connect(
            f"ws://127.0.0.1:{web}/ws/events/", additional_headers=headers
        ) as ws:
            with pytest.raises(TimeoutError):  # nothing arrives, and the socket is not closed
                await asyncio.wait_for(ws.recv(), 12)
            await ws.send(json.dumps({"type": "ping"}))
            assert await _receive(ws) == {"type": "pong"}
            await get_channel_layer().group_send(
                f"user.{alice.pk}", {"type": "event.forward", "event": {"after": "idle"}}
            )
            assert await _receive(ws) == {"after": "idle"}

    async_to_sync(scenario)()
    server = child_processes.children[-1]
    os.killpg(server.pid, signal.SIGTERM)
    output = server.communicate(timeout=15)[0].decode()
    assert "Traceback" not in output
    assert "TimeoutError" not in output
