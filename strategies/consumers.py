"""A backtest's page over a websocket (`ws/backtests/<id>/`): the worker's progress as it runs,
then the switch to the results; an optimization's page the same way (`ws/optimizations/<id>/`);
and the lists of both (`ws/backtests/`, `ws/optimizations/`): each running row's percent in
place, the table reloaded once when a run ends.

Only the run's owner, signed in and past the OTP step, is accepted; anyone else is refused at
the handshake (HTTP 403). On connect the page gets the run's current state at once (so a run
that moved or ended before the socket opened is never missed), then one fragment per event of
the run's group (see strategies.live). A list socket joins the groups of its user's unfinished
runs only (re-read whenever one ends), and reloads the table once on connect for the same
reason. No writes; the cancel buttons are plain HTTP posts.
"""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from config.consumers import authenticated_user
from strategies.live import (
    backtest_group,
    final_fragment,
    optimization_final_fragment,
    optimization_group,
    optimization_progress_fragment,
    progress_fragment,
    run_list_refresh_fragment,
    run_state_fragment,
)

logger = logging.getLogger(__name__)


@database_sync_to_async
def _run_state(user, run_id: int) -> dict | None:
    from strategies.models import BacktestRun

    return (
        BacktestRun.objects.filter(pk=run_id, user_id=user.pk)
        .values("status", "bars_done", "bars_total")
        .first()
    )


class BacktestLiveConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self):
        self.user = await authenticated_user(self.scope)
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        state = await _run_state(self.user, self.run_id) if self.user is not None else None
        if state is None:
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self.group = backtest_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=await self._state_fragment(state))

    async def _state_fragment(self, state: dict) -> str:
        if state["status"] in ("done", "failed", "cancelled"):
            return final_fragment(self.run_id)
        total = state["bars_total"]
        event = {
            "kind": "progress", "run_id": self.run_id,
            "phase": "replaying" if state["status"] == "running" and total else state["status"],
            "bars_done": state["bars_done"], "bars_total": total,
            "percent": int(100 * state["bars_done"] / total) if total else 0,
            "eta_seconds": None, "message": "",
        }  # fmt: skip
        return await database_sync_to_async(progress_fragment)(event)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """The page sends nothing the server acts on."""

    async def event_forward(self, message):
        event = message.get("event") or {}
        if event.get("run_id") != self.run_id:
            return
        try:
            if event.get("kind") == "progress":
                html = await database_sync_to_async(progress_fragment)(event)
            elif event.get("kind") == "status":
                html = final_fragment(self.run_id)
            else:
                return
        except Exception:  # a render failure must not end the connection
            logger.exception("backtest %s: live update not rendered", self.run_id)
            return
        await self.send(text_data=html)


@database_sync_to_async
def _optimization_state(user, run_id: int) -> dict | None:
    from strategies.models import Optimization

    return (
        Optimization.objects.filter(pk=run_id, user_id=user.pk)
        .values("status", "done", "total")
        .first()
    )


class OptimizationLiveConsumer(AsyncWebsocketConsumer):
    """A search's page: as BacktestLiveConsumer, with combinations evaluated for bars."""

    group: str | None = None

    async def connect(self):
        self.user = await authenticated_user(self.scope)
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        state = await _optimization_state(self.user, self.run_id) if self.user else None
        if state is None:
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self.group = optimization_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        if state["status"] in ("done", "failed", "cancelled"):
            await self.send(text_data=optimization_final_fragment(self.run_id))
            return
        total = state["total"]
        event = {
            "kind": "progress", "run_id": self.run_id, "done": state["done"], "total": total,
            "phase": "queued" if state["status"] == "queued" else "evaluating",
            "percent": int(100 * state["done"] / total) if total else 0, "eta_seconds": None,
        }  # fmt: skip
        await self.send(
            text_data=await database_sync_to_async(optimization_progress_fragment)(event)
        )

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """The page sends nothing the server acts on."""

    async def event_forward(self, message):
        event = message.get("event") or {}
        if event.get("run_id") != self.run_id:
            return
        try:
            if event.get("kind") == "progress":
                html = await database_sync_to_async(optimization_progress_fragment)(event)
            elif event.get("kind") == "status":
                html = optimization_final_fragment(self.run_id)
            else:
                return
        except Exception:  # a render failure must not end the connection
            logger.exception("optimization %s: live update not rendered", self.run_id)
            return
        await self.send(text_data=html)


@database_sync_to_async
def _unfinished_ids(user, model_name: str) -> list[int]:
    from strategies import models

    model = getattr(models, model_name)
    return list(
        model.objects.filter(user_id=user.pk)
        .exclude(status__in=model.FINAL)
        .values_list("pk", flat=True)
    )


class _RunListLiveConsumer(AsyncWebsocketConsumer):
    """A list of the user's runs: progress of each unfinished run into its row's status cell,
    and the table reloaded (one GET) when one ends. Subclasses name the model and the page."""

    model_name = ""
    url_name = ""
    table_id = ""
    row_prefix = ""
    group_of = staticmethod(backtest_group)

    async def connect(self):
        self.user = await authenticated_user(self.scope)
        self.joined: set[int] = set()
        if self.user is None:
            await self.close()  # refused at the handshake (HTTP 403)
            return
        await self.accept()
        await self._join_unfinished()
        await self.send(text_data=self._refresh())

    async def _join_unfinished(self) -> None:
        for run_id in await _unfinished_ids(self.user, self.model_name):
            if run_id not in self.joined:
                await self.channel_layer.group_add(self.group_of(run_id), self.channel_name)
                self.joined.add(run_id)

    def _refresh(self) -> str:
        return run_list_refresh_fragment(url_name=self.url_name, table_id=self.table_id)

    async def disconnect(self, code):
        for run_id in getattr(self, "joined", ()):
            await self.channel_layer.group_discard(self.group_of(run_id), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """The page sends nothing the server acts on."""

    async def event_forward(self, message):
        event = message.get("event") or {}
        if event.get("run_id") not in self.joined:
            return
        try:
            if event.get("kind") == "progress":
                html = await database_sync_to_async(run_state_fragment)(
                    prefix=self.row_prefix, event=event
                )
            elif event.get("kind") == "status":
                await self.channel_layer.group_discard(
                    self.group_of(event["run_id"]), self.channel_name
                )
                self.joined.discard(event["run_id"])
                await self._join_unfinished()
                html = self._refresh()
            else:
                return
        except Exception:  # a render failure must not end the connection
            logger.exception("%s: live update not rendered", self.table_id)
            return
        await self.send(text_data=html)


class BacktestListLiveConsumer(_RunListLiveConsumer):
    model_name = "BacktestRun"
    url_name = "strategies:backtest-list"
    table_id = "backtest-runs"
    row_prefix = "backtest-run"
    group_of = staticmethod(backtest_group)


class OptimizationListLiveConsumer(_RunListLiveConsumer):
    model_name = "Optimization"
    url_name = "strategies:optimization-list"
    table_id = "optimization-runs"
    row_prefix = "optimization-run"
    group_of = staticmethod(optimization_group)
