"""Live bot pages over websockets: a bot's page (`bot.<id>`) and the bot list (`user.<id>`).

Both authenticate like every consumer (signed in and past the OTP step); the bot consumer also
refuses, at the handshake (HTTP 403), anyone who does not own the bot. Runtime events arrive as
{"type": "event.forward", "event": {"kind", "bot_id", "data", ...}}; the consumers re-render the
page sections the event touched and send them as hx-swap-oob fragments. No writes.

Pushes are coalesced on the leading edge: an event that finds no push under way is rendered
and sent at once. Events arriving while a push is rendered only mark what they touched; the
next push shows them all. Pushes are rate-limited by a token bucket: PUSH_BURST of them back to
back, then one per PUSH_INTERVAL (events arriving meanwhile join the next). So an isolated
event waits for nothing, a burst costs a few pushes, and the last push shows the latest state
(renders read the database, one at a time, in order).
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from config.consumers import authenticated_user
from trading.events import bot_group, user_group
from trading.live import SECTIONS_BY_KIND, bot_row_render, bot_sections_render

logger = logging.getLogger(__name__)

# A socket gets up to PUSH_BURST pushes back to back, then one per PUSH_INTERVAL seconds.
PUSH_BURST = 3
PUSH_INTERVAL = 0.1


@database_sync_to_async
def _owns_bot(user, bot_id: int) -> bool:
    from trading.models import Bot

    return Bot.objects.filter(pk=bot_id, user_id=user.pk).exists()


class _CoalescingConsumer(AsyncWebsocketConsumer):
    """Collects what events changed; renders it at once if idle, else once the current push ends."""

    group: str | None = None
    _flush: asyncio.Future | None = None
    _tokens: float = PUSH_BURST  # the rate limit's bucket, full at first
    _tokens_at: float = float("-inf")

    async def disconnect(self, code):
        if self._flush is not None:
            self._flush.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """The page sends nothing the server acts on (controls are plain HTTP posts)."""

    def _mark(self, key) -> None:
        self._dirty.add(key)
        if self._flush is None:
            self._flush = asyncio.ensure_future(self._push_loop())

    async def _push_loop(self) -> None:
        """Push what is marked, then whatever was marked meanwhile, until nothing is left."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                # the bucket: a push costs one token, PUSH_INTERVAL earns one, PUSH_BURST at most
                now = loop.time()
                earned = (now - self._tokens_at) / PUSH_INTERVAL
                self._tokens, self._tokens_at = min(PUSH_BURST, self._tokens + earned), now
                if self._tokens < 1:
                    await asyncio.sleep((1 - self._tokens) * PUSH_INTERVAL)
                    continue
                self._tokens -= 1
                dirty, self._dirty = self._dirty, set()
                if not await self._push(dirty):
                    self._dirty = set()
                    return
                if not self._dirty:  # nothing came meanwhile: the next event goes at once
                    return
        finally:
            self._flush = None

    async def _push(self, dirty: set) -> bool:
        """Render and send; False once the connection is closed (the bot is gone)."""
        try:
            html = await self.render(dirty)
        except Http404:  # the bot is gone: nothing left to show
            await self.close()
            return False
        except Exception:  # a render failure must not end the connection
            logger.exception("live update of %s not rendered", self.group)
            return True
        if html:
            await self.send(text_data=html)
        return True

    async def render(self, dirty: set) -> str:
        raise NotImplementedError


class BotLiveConsumer(_CoalescingConsumer):
    """One bot's page: status, orders, fills, PnL, events, signals and equity as they change."""

    async def connect(self):
        self.user = await authenticated_user(self.scope)
        self.bot_id = int(self.scope["url_route"]["kwargs"]["bot_id"])
        if self.user is None or not await _owns_bot(self.user, self.bot_id):
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self._dirty, self._flush = set(), None
        self.group = bot_group(self.bot_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def event_forward(self, message):
        event = message.get("event") or {}
        if event.get("bot_id") not in (None, self.bot_id):
            return
        for section in SECTIONS_BY_KIND.get(event.get("kind"), {"events"}):
            self._mark(section)

    async def render(self, dirty: set) -> str:
        return await database_sync_to_async(bot_sections_render)(
            user=self.user, bot_id=self.bot_id, sections=dirty
        )


class BotListLiveConsumer(_CoalescingConsumer):
    """The bot list: a bot's row is redrawn when its status or its books change."""

    async def connect(self):
        self.user = await authenticated_user(self.scope)
        if self.user is None:
            await self.close()
            return
        self._dirty, self._flush = set(), None
        self.group = user_group(self.user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def event_forward(self, message):
        event = message.get("event") or {}
        if event.get("kind") in ("status", "fill", "error", "kill_switch", "reconcile"):
            bot_id = event.get("bot_id")
            if isinstance(bot_id, int):
                self._mark(bot_id)

    async def render(self, dirty: set) -> str:
        rows = []
        for bot_id in sorted(dirty):
            try:
                rows.append(
                    await database_sync_to_async(bot_row_render)(user=self.user, bot_id=bot_id)
                )
            except Http404:  # not this user's bot (never sent to this group) or deleted
                continue
        return "\n".join(rows)
