"""A backtest's progress over its websocket: only the owner's page connects, it gets the run's
state at once, then the worker's progress (bars, percent, ETA) at a bounded rate, and the switch
to the results when the run ends; a queued run cancelled from the page ends it too.

Real Postgres, the real Redis channel layer, the real consumer through config.routing.
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
from strategies import live, services
from strategies.services import backtest_run_cancel, backtest_run_execute
from tests.strategies.test_backtests import BARS, queued, real_candles, stored  # noqa: F401
from trading.events import events_flush

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(user, run_id: int) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/backtests/{run_id}/")
    ws.scope["user"] = user
    ws.scope["session"] = {}
    return ws


def _bars_done(html: str) -> int | None:
    found = re.search(r'data-bars-done="(\d+)"', html)
    return int(found.group(1)) if found else None


def test_only_the_owner_may_open_a_runs_socket(alice, bob, queued):  # noqa: F811
    run = queued(user=alice)

    async def scenario():
        for user in (bob, AnonymousUser()):
            ws = communicator(user, run.pk)
            connected, _ = await ws.connect()
            assert not connected
        ws = communicator(alice, run.pk)
        connected, _ = await ws.connect()
        assert connected
        first = await ws.receive_from(timeout=5)
        assert 'id="backtest-progress-box"' in first and "Waiting for a backtest worker" in first
        await ws.disconnect()
        ws = communicator(alice, run.pk + 1000)  # no such run
        assert not (await ws.connect())[0]

    async_to_sync(scenario)()


def test_the_page_gets_progress_with_bars_and_eta_then_the_results(alice, queued):  # noqa: F811
    run = queued(user=alice)
    frames: list[str] = []

    async def scenario():
        ws = communicator(alice, run.pk)
        assert (await ws.connect())[0]
        frames.append(await ws.receive_from(timeout=5))  # the state on connect: queued
        worker = threading.Thread(target=lambda: _execute(run.pk))
        worker.start()
        while 'hx-trigger="load"' not in frames[-1]:
            frames.append(await ws.receive_from(timeout=30))
        await database_sync_to_async(worker.join)(30)
        await ws.disconnect()

    async_to_sync(scenario)()
    progress = frames[1:-1]
    done = [_bars_done(f) for f in progress]
    assert done[0] == 0 and done[-1] == BARS and done == sorted(done)
    assert all(f"of {BARS} bars" in f and 'id="backtest-status"' in f for f in progress)
    assert "(100%)" in progress[-1] and "left" not in progress[-1]
    final = frames[-1]
    assert 'id="backtest-run"' in final
    assert f'hx-get="{reverse("strategies:backtest-detail", args=[run.pk])}"' in final
    run.refresh_from_db()
    assert run.status == "done"


def _execute(run_id: int) -> None:
    from django.db import connection

    try:
        backtest_run_execute(run_id=run_id)
        events_flush()
    finally:
        connection.close()


def test_cancelling_a_queued_run_ends_its_page_and_a_failed_run_too(alice, queued):  # noqa: F811
    run = queued(user=alice)
    failing = queued(user=alice, start="2030-01-01", end="2030-01-02")

    async def scenario():
        ws = communicator(alice, run.pk)
        assert (await ws.connect())[0]
        await ws.receive_from(timeout=5)
        await database_sync_to_async(backtest_run_cancel)(run=run)
        await database_sync_to_async(events_flush)()
        assert 'hx-trigger="load"' in await ws.receive_from(timeout=10)
        await ws.disconnect()
        ws = communicator(alice, failing.pk)
        assert (await ws.connect())[0]
        await ws.receive_from(timeout=5)
        await database_sync_to_async(_execute)(failing.pk)
        assert 'hx-trigger="load"' in await ws.receive_from(timeout=10)
        await ws.disconnect()
        # the socket of a run that already ended switches the page at once
        ws = communicator(alice, failing.pk)
        assert (await ws.connect())[0]
        assert 'hx-trigger="load"' in await ws.receive_from(timeout=5)
        await ws.disconnect()

    async_to_sync(scenario)()
    failing.refresh_from_db()
    assert failing.status == "failed" and "no candles" in failing.error


def test_progress_is_sent_at_a_bounded_rate_with_an_eta_from_the_rate_so_far(monkeypatch):
    sent = []
    monkeypatch.setattr(live, "_send", lambda run_id, event: sent.append(event))
    clock = [100.0]
    publisher = live.ProgressPublisher(7, clock=lambda: clock[0], every=0.5)
    results = []
    for i in range(1, 81):  # a report every 0.125 s for 10 s
        clock[0] += 0.125
        results.append(publisher.replaying(i * 10, 800, force=i == 80))
    assert len(sent) == 21 and sent[-1]["bars_done"] == 800  # every 0.5 s, and the end
    assert sum(results) == len(sent)
    quarter = next(e for e in sent if e["bars_done"] >= 250)
    # 250 bars in 3.125 s: 550 left at 80 bars/s
    assert quarter["bars_done"] == 250 and quarter["eta_seconds"] == pytest.approx(6.9, abs=0.01)
    assert sent[-1]["eta_seconds"] == 0 and sent[-1]["percent"] == 100
    assert live.eta_words(7.5) == "about 8 s left" and live.eta_words(600) == "about 10 min left"
    box = live.progress_fragment({**quarter, "eta_seconds": 12.2})
    assert "250 of 800 bars (31%) · about 12 s left" in box and 'value="250" max="800"' in box


def test_the_detail_page_holds_the_socket_while_running_and_not_once_done(
    alice_client,
    queued,  # noqa: F811
):
    run = queued()
    url = reverse("strategies:backtest-detail", args=[run.pk])
    page = alice_client.get(url).content.decode()
    assert f'ws-connect="/ws/backtests/{run.pk}/"' in page and "every 1s" not in page
    assert 'id="backtest-cancel"' in page and "Waiting for a backtest worker" in page
    backtest_run_execute(run_id=run.pk)
    partial = alice_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "ws-connect" not in partial and "<html" not in partial
    assert "Total return" in partial


def test_a_run_cancelled_while_running_stops_between_chunks(queued, monkeypatch):  # noqa: F811
    run = queued()
    real = services.backtest_run_progress
    calls = []

    def cancel_on_first_report(*, run_id, done):
        calls.append(done)
        if len(calls) == 1:
            backtest_run_cancel(run=services.BacktestRun.objects.get(pk=run_id))
        real(run_id=run_id, done=done)

    monkeypatch.setattr(services, "backtest_run_progress", cancel_on_first_report)
    assert backtest_run_execute(run_id=run.pk) == "cancelled"
    assert calls == [1000]
