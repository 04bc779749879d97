"""The trading panel of an exchange account, live (`/ws/exchanges/accounts/<id>/trade/`).

Owner only: anyone else, and a session not past the OTP step, is refused at the handshake
(HTTP 403). The socket joins the owner's `user.<id>` group, where the books publish every order
and fill event (trading/events.py); an event of the account's manual bot (its orders by hand)
makes the consumer render the panel's state section (balances, open orders, recent fills) and
send it as {"kind": "trade_state", "html": ...} for static/js/trade.js. A render starts at once;
events arriving while it runs make it run once more after, so a burst costs two renders and
the last state is always shown. No writes.
"""

from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from config.consumers import authenticated_user
from trading.events import user_group

logger = logging.getLogger(__name__)

# the events that change what the state section shows
KINDS = {"order", "fill", "reconcile", "kill_switch"}


@database_sync_to_async
def _owns_account(user, account_id: str) -> bool:
    from exchanges.models import ExchangeAccount

    return ExchangeAccount.objects.filter(pk=account_id, user_id=user.pk).exists()


@database_sync_to_async
def _manual_bot_id(account_id: str) -> int | None:
    from exchanges.models import ExchangeAccount
    from trading.services.manual import manual_bot_get

    account = ExchangeAccount.objects.filter(pk=account_id).first()
    bot = manual_bot_get(account=account) if account is not None else None
    return bot.pk if bot is not None else None


@database_sync_to_async
def _render(user, account_id: str) -> str:
    from exchanges.trade_views import account_trade_state_render

    return account_trade_state_render(user=user, account_id=account_id)


class AccountTradeLiveConsumer(AsyncWebsocketConsumer):
    """Pushes the panel's state section when the account's orders by hand change."""

    async def connect(self):
        self.user = await authenticated_user(self.scope)
        self.account_id = str(self.scope["url_route"]["kwargs"]["id"])
        if self.user is None or not await _owns_account(self.user, self.account_id):
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        # the manual bot is created by the account's first order by hand, maybe after this
        self.bot_id = await _manual_bot_id(self.account_id)
        self.other_bots: set[int] = set()
        self._task: asyncio.Task | None = None
        self._again = False
        self.group = user_group(self.user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "_task", None) is not None:
            self._task.cancel()
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """The page sends nothing the server acts on (orders and cancels are HTTP posts)."""

    async def _is_panel_bot(self, bot_id) -> bool:
        if not isinstance(bot_id, int) or bot_id in self.other_bots:
            return False
        if self.bot_id is None:
            self.bot_id = await _manual_bot_id(self.account_id)
        if bot_id != self.bot_id:
            self.other_bots.add(bot_id)  # another bot of the owner: its events are skipped
            return False
        return True

    async def event_forward(self, message):
        event = message.get("event") or {}
        if event.get("kind") not in KINDS or not await self._is_panel_bot(event.get("bot_id")):
            return
        if self._task is not None:
            self._again = True
            return
        self._task = asyncio.ensure_future(self._push())

    async def _push(self) -> None:
        try:
            while True:
                self._again = False
                try:
                    html = await _render(self.user, self.account_id)
                except Http404:  # the account is gone: nothing left to show
                    await self.close()
                    return
                except Exception:  # a render failure must not end the connection
                    logger.exception("live trading panel of %s not rendered", self.account_id)
                else:
                    payload = {"kind": "trade_state", "account": self.account_id, "html": html}
                    await self.send(text_data=json.dumps(payload))
                if not self._again:
                    return
        finally:
            self._task = None
