"""An optimization's progress over websockets, as a backtest's: only the owner's page connects,
it gets the search's state at once, then the worker's progress (combinations evaluated, percent,
ETA) at a bounded rate, and the switch to the results when the search ends, is cancelled or
fails. The lists of backtests and searches get each running row's percent pushed into its status
cell and reload the table once when a run ends; nobody polls.

Real Postgres, the real Redis channel layer, the real consumers through config.routing.
"""

from __future__ import annotations

import re
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from config.routing import websocket_urlpatterns
from strategies import optimizations
from strategies.live import optimization_progress_fragment
from strategies.optimizations import optimization_cancel, optimization_execute
from tests.strategies.test_backtest_live import _execute as backtest_execute
from tests.strategies.test_backtests import queued, real_candles, stored  # noqa: F401
from tests.strategies.test_optimization import queued_search  # noqa: F401
from trading.events import events_flush

pytestmark = pytest.mark.django_db(transaction=True)

LOADED = 'hx-trigger="load"'


def communicator(user, path: str) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    ws.scope["user"] = user
    ws.scope["session"] = {}
    return ws


def _execute(run_id: int) -> None:
    from django.db import connection

    try:
        optimization_execute(run_id=run_id)
        events_flush()
    finally:
        connection.close()


def _done(html: str) -> int | None:
    found = re.search(r'data-done="(\d+)"', html)
    return int(found.group(1)) if found else None


def test_only_the_owner_may_open_a_searchs_socket(alice, bob, queued_search):  # noqa: F811
    run = queued_search(user=alice)

    async def scenario():
        for user in (bob, AnonymousUser()):
            connected, _ = await communicator(user, f"/ws/optimizations/{run.pk}/").connect()
            assert not connected
        ws = communicator(alice, f"/ws/optimizations/{run.pk}/")
        assert (await ws.connect())[0]
        first = await ws.receive_from(timeout=30)
        assert (
            'id="optimization-progress-box"' in first and "Waiting for a backtest worker" in first
        )
        assert 'id="optimization-status"' not in first  # queued: the badge stays "Queued"
        await ws.disconnect()
        assert not (await communicator(alice, f"/ws/optimizations/{run.pk + 1000}/").connect())[0]
        # the lists: anonymous refused; bob's list socket hears nothing of alice's runs
        assert not (await communicator(AnonymousUser(), "/ws/optimizations/").connect())[0]
        assert not (await communicator(AnonymousUser(), "/ws/backtests/").connect())[0]
        ws = communicator(bob, "/ws/optimizations/")
        assert (await ws.connect())[0]
        assert LOADED in await ws.receive_from(timeout=30)  # his own table, reloaded once
        await database_sync_to_async(_execute)(run.pk)
        assert await ws.receive_nothing(timeout=1)
        await ws.disconnect()

    async_to_sync(scenario)()


def test_the_page_gets_evaluations_done_then_the_results(alice, queued_search):  # noqa: F811
    run = queued_search(user=alice)  # a grid of 8 combinations
    frames: list[str] = []

    async def scenario():
        ws = communicator(alice, f"/ws/optimizations/{run.pk}/")
        assert (await ws.connect())[0]
        frames.append(await ws.receive_from(timeout=30))  # the state on connect: queued
        worker = threading.Thread(target=lambda: _execute(run.pk))
        worker.start()
        while LOADED not in frames[-1]:
            frames.append(await ws.receive_from(timeout=30))
        await database_sync_to_async(worker.join)(30)
        await ws.disconnect()

    async_to_sync(scenario)()
    progress = frames[1:-1]
    assert (
        "Loading the candles" in progress[0] and 'id="optimization-status">Running' in progress[0]
    )
    evaluated = [_done(f) for f in progress[1:]]
    assert evaluated and evaluated == sorted(evaluated) and evaluated[-1] == 8
    assert all("of 8 combinations evaluated" in f for f in progress[1:])
    assert "8 of 8 combinations evaluated (100%)" in progress[-1] and "left" not in progress[-1]
    final = frames[-1]
    assert 'id="optimization-run"' in final
    assert f'hx-get="{reverse("strategies:optimization-detail", args=[run.pk])}"' in final
    run.refresh_from_db()
    assert run.status == "done"


def test_progress_carries_an_eta_from_the_rate_so_far(alice, queued_search, monkeypatch):  # noqa: F811
    run = queued_search(user=alice)
    sent = []
    monkeypatch.setattr(optimizations, "optimization_progress_publish",
                        lambda **event: sent.append(event))  # fmt: skip
    clock = [100.0]
    progress = optimizations._Progress(run.pk, 40)
    progress._clock, progress._started = (lambda: clock[0]), 100.0
    for done in range(1, 41):  # an evaluation every 0.25 s
        clock[0] += 0.25
        progress(done)
    assert [e["done"] for e in sent] == list(range(1, 41, 2)) + [40]  # every 0.5 s, and the end
    tenth = sent[5]  # 11 done in 2.75 s: 29 left at 4 a second
    assert tenth["done"] == 11 and tenth["eta_seconds"] == pytest.approx(7.25)
    assert sent[-1]["eta_seconds"] == 0
    run.refresh_from_db()
    assert run.done == 40
    event = {"run_id": run.pk, "phase": "evaluating", "done": 11, "total": 40, "percent": 27,
             "eta_seconds": 7.25}  # fmt: skip
    html = optimization_progress_fragment(event)  # the page's words for such an event
    assert "11 of 40 combinations evaluated (27%) · about 7 s left" in html
    assert 'value="11" max="40"' in html


def test_a_cancelled_or_failed_search_ends_its_page(alice, queued_search):  # noqa: F811
    run = queued_search(user=alice)
    failing = queued_search(user=alice, start="2019-01-01", end="2019-01-02")

    async def scenario():
        ws = communicator(alice, f"/ws/optimizations/{run.pk}/")
        assert (await ws.connect())[0]
        await ws.receive_from(timeout=30)
        await database_sync_to_async(optimization_cancel)(run=run)
        await database_sync_to_async(events_flush)()
        assert LOADED in await ws.receive_from(timeout=30)
        await ws.disconnect()
        ws = communicator(alice, f"/ws/optimizations/{failing.pk}/")
        assert (await ws.connect())[0]
        await ws.receive_from(timeout=30)
        await database_sync_to_async(_execute)(failing.pk)
        while LOADED not in (frame := await ws.receive_from(timeout=30)):
            assert "optimization-progress-box" in frame
        await ws.disconnect()
        # the socket of a search that already ended switches the page at once
        ws = communicator(alice, f"/ws/optimizations/{failing.pk}/")
        assert (await ws.connect())[0]
        assert LOADED in await ws.receive_from(timeout=30)
        await ws.disconnect()

    async_to_sync(scenario)()
    failing.refresh_from_db()
    assert failing.status == "failed" and "no candles" in failing.error


def test_the_lists_get_each_running_rows_percent_then_reload_once(
    alice,
    queued_search,  # noqa: F811
    queued,  # noqa: F811
):
    search, backtest = queued_search(user=alice), queued(user=alice)
    cases = (
        ("/ws/optimizations/", f"optimization-run-{search.pk}-state", _execute, search.pk,
         reverse("strategies:optimization-list"), "optimization-runs"),
        ("/ws/backtests/", f"backtest-run-{backtest.pk}-state", backtest_execute, backtest.pk,
         reverse("strategies:backtest-list"), "backtest-runs"),
    )  # fmt: skip

    async def scenario(path, state_id, execute, run_id, url, table):
        ws = communicator(alice, path)
        assert (await ws.connect())[0]
        first = await ws.receive_from(timeout=30)  # the table reloaded once: missed nothing
        assert f'hx-get="{url}"' in first and f'hx-select="#{table}"' in first
        frames = []
        worker = threading.Thread(target=lambda: execute(run_id))
        worker.start()
        while LOADED not in (frame := await ws.receive_from(timeout=30)):
            frames.append(frame)
        await database_sync_to_async(worker.join)(30)
        assert frame.startswith(f'<div id="{table}-refresh"') and f'hx-get="{url}"' in frame
        assert frames and all(f'<span id="{state_id}">' in f and "Running" in f for f in frames)
        assert "100%" in frames[-1]
        await ws.disconnect()

    for case in cases:
        async_to_sync(scenario)(*case)


def test_the_pages_hold_sockets_while_running_and_poll_nothing(alice_client, queued_search):  # noqa: F811
    run = queued_search()
    detail = alice_client.get(reverse("strategies:optimization-detail", args=[run.pk]))
    page = detail.content.decode()
    assert f'ws-connect="/ws/optimizations/{run.pk}/"' in page and "every 1s" not in page
    assert 'id="optimization-cancel"' in page and "Waiting for a backtest worker" in page
    listing = alice_client.get(reverse("strategies:optimization-list")).content.decode()
    assert 'ws-connect="/ws/optimizations/"' in listing and "every 2s" not in listing
    assert (
        f'<span id="optimization-run-{run.pk}-state"><span class="badge status-queued">' in listing
    )
    optimization_execute(run_id=run.pk)
    partial = alice_client.get(
        reverse("strategies:optimization-detail", args=[run.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "ws-connect" not in partial and 'id="optimization-heatmap"' in partial
    listing = alice_client.get(reverse("strategies:optimization-list")).content.decode()
    assert "ws-connect" not in listing and "every 2s" not in listing
    backtests = alice_client.get(reverse("strategies:backtest-list")).content.decode()
    assert "every 2s" not in backtests
