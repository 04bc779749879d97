"""A backtest's page over a websocket (`ws/backtests/<id>/`): the worker's progress as it runs,
then the switch to the results.

Only the run's owner, signed in and past the OTP step, is accepted; anyone else is refused at
the handshake (HTTP 403). On connect the page gets the run's current state at once (so a run
that moved or ended before the socket opened is never missed), then one fragment per event of
the run's group (see strategies.live). No writes; the cancel button is a plain HTTP post.
"""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from config.consumers import authenticated_user
from strategies.live import backtest_group, final_fragment, progress_fragment

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
