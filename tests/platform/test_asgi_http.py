"""The web server's HTTP path (config/asgi_http.py): each request runs start to end in one thread
of a bounded pool, streams from the thread of its view, and is dropped if its client left."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.core import signals
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from config.asgi_http import SyncStackASGIHandler

seen: dict = {}


def plain(request):
    seen["view_thread"] = threading.current_thread().name
    return HttpResponse("hello", headers={"X-Test": "1"})


def stream(request):
    view_thread = threading.get_ident()

    def chunks():
        for n in range(3):
            seen["chunk_threads"].append(threading.get_ident())
            yield f"part{n};".encode()

    seen["view_thread"] = view_thread
    seen["chunk_threads"] = []
    return StreamingHttpResponse(chunks())


def slow(request):
    with seen["lock"]:
        seen["running"] += 1
        seen["peak"] = max(seen["peak"], seen["running"])
    time.sleep(0.05)
    with seen["lock"]:
        seen["running"] -= 1
    return HttpResponse("done")


def blocked(request):
    seen["blocked_runs"] += 1
    assert seen["release"].wait(30)  # hang guard
    return HttpResponse("released")


def boom(request):
    raise RuntimeError("view failed")


urlpatterns = [
    path("plain/", plain),
    path("stream/", stream),
    path("slow/", slow),
    path("blocked/", blocked),
    path("boom/", boom),
]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__
    seen.clear()


def _scope(url: str) -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": url, "raw_path": url.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip


async def _call(app, url: str, *, left: asyncio.Event | None = None) -> list[dict]:
    """One request; the messages sent back. `left`, once set, is the client going away."""
    messages, answered = [], asyncio.Event()
    left = left or answered
    body_sent = False

    async def receive():
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        messages.append(message)

    await app(scope=_scope(url), receive=receive, send=send)
    answered.set()
    return messages


def _body(messages) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def test_a_request_runs_in_a_pool_thread_and_its_answer_is_sent_whole():
    started, finished = [], []

    def on_started(**kwargs):
        started.append(threading.current_thread().name)

    def on_finished(**kwargs):
        finished.append(threading.current_thread().name)

    signals.request_started.connect(on_started)
    signals.request_finished.connect(on_finished)
    try:
        messages = asyncio.run(_call(SyncStackASGIHandler(threads=2), "/plain/"))
    finally:
        signals.request_started.disconnect(on_started)
        signals.request_finished.disconnect(on_finished)
    assert messages[0]["status"] == 200
    assert (b"X-Test", b"1") in messages[0]["headers"]
    assert _body(messages) == b"hello"
    assert seen["view_thread"].startswith("web")
    # both signals once, in the view's thread: request_finished gives its connection back
    assert started == finished == [seen["view_thread"]]


def test_a_streaming_answer_is_sent_chunk_by_chunk_from_the_views_thread():
    messages = asyncio.run(_call(SyncStackASGIHandler(threads=2), "/stream/"))
    assert messages[0]["status"] == 200
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert [m.get("body", b"") for m in bodies] == [b"part0;", b"part1;", b"part2;", b""]
    assert all(m.get("more_body") for m in bodies[:-1]) and not bodies[-1].get("more_body")
    assert seen["chunk_threads"] == [seen["view_thread"]] * 3


def test_a_failing_view_answers_500():
    messages = asyncio.run(_call(SyncStackASGIHandler(threads=1), "/boom/"))
    assert messages[0]["status"] == 500


def test_no_more_requests_run_at_once_than_the_pool_has_threads():
    seen.update(lock=threading.Lock(), running=0, peak=0)
    app = SyncStackASGIHandler(threads=2)

    async def burst():
        return await asyncio.gather(*(_call(app, "/slow/") for _ in range(8)))

    answers = asyncio.run(burst())
    assert [m[0]["status"] for m in answers] == [200] * 8
    assert 1 <= seen["peak"] <= 2


def test_a_request_whose_client_left_while_it_queued_is_not_run():
    seen.update(blocked_runs=0, release=threading.Event())
    app = SyncStackASGIHandler(threads=1)

    async def scenario():
        first = asyncio.create_task(_call(app, "/blocked/"))
        while seen["blocked_runs"] == 0:  # the only thread is taken
            await asyncio.sleep(0.01)
        left = asyncio.Event()
        second = asyncio.create_task(_call(app, "/blocked/", left=left))
        await asyncio.sleep(0.05)
        left.set()  # the second client gives up while its request waits for the thread
        await asyncio.sleep(0.05)
        seen["release"].set()
        return await first, await second

    first, second = asyncio.run(scenario())
    assert _body(first) == b"released"
    assert second == []  # nothing sent, nothing run
    assert seen["blocked_runs"] == 1
