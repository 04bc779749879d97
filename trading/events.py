"""Live updates of bots: after commit, to Channels groups `bot.<id>` and `user.<owner id>`.

Every message is {"type": "event.forward", "event": EVENT}; the consumers forward EVENT as is:

    {"kind": KIND, "bot_id": 7, "at": "2026-01-01T00:00:00+00:00", "data": {...}}

KIND and its data:
    status       {"status", "reason", "previous"}
    order        {"client_order_id", "symbol", "side", "type", "price", "qty", "filled_qty",
                  "status", "reason", "exchange"}             (one per changed order)
    fill         {"trade_id", "client_order_id", "symbol", "side", "price", "qty", "fee",
                  "fee_asset", "liquidity", "exchange", "executed_at"}
    signal       {"symbol", "kind", "indicators"}
    risk         {"rule", "message", "action"}
    error        {"message"}
    reconcile    {"adopted", "resolved", "fills_booked", "lost"}
    kill_switch  {"reason", "scope"}
Prices and quantities are strings (exact decimals). Sending never blocks the caller: messages go
out from one background event loop per process, so a slow Redis cannot stall a bot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


def bot_group(bot_id: int) -> str:
    return f"bot.{bot_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class _Sender:
    """One asyncio loop thread per process that sends to the channel layer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[Future] = set()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name="bot-events", daemon=True).start()
                ready.wait(5)
                self._loop = loop
            return self._loop

    def send(self, groups: list[str], event: dict) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        message = {"type": "event.forward", "event": event}

        async def deliver() -> None:
            for group in groups:
                await layer.group_send(group, message)

        future = asyncio.run_coroutine_threadsafe(deliver(), self._start())
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            logger.warning("bot event not delivered: %s", future.exception())

    def flush(self, timeout: float = 5.0) -> None:
        """Wait for the messages sent so far (tests, shutdown)."""
        for future in list(self._pending):
            try:
                future.result(timeout)
            except Exception:  # already logged by _done
                logger.debug("bot event delivery failed", exc_info=True)


_sender = _Sender()


def bot_event(*, bot_id: int, kind: str, data: dict) -> dict:
    return {"kind": kind, "bot_id": bot_id, "at": timezone.now().isoformat(), "data": data}


def bot_events_send(*, bot_id: int, user_id: int, events: list[dict]) -> None:
    """Send already-built events now (callers that have committed already)."""
    for event in events:
        _sender.send([bot_group(bot_id), user_group(user_id)], event)


def bot_event_publish(*, bot, kind: str, data: dict) -> None:
    """Send one event about `bot` to its page and its owner once the transaction commits."""
    event = bot_event(bot_id=bot.pk, kind=kind, data=data)
    bot_id, user_id = bot.pk, bot.user_id
    transaction.on_commit(lambda: bot_events_send(bot_id=bot_id, user_id=user_id, events=[event]))


def events_flush(timeout: float = 5.0) -> None:
    """Wait until every event sent by this process has reached the channel layer."""
    _sender.flush(timeout)


def _notify_function() -> Callable | None:
    try:
        from notifications.services import notify
    except ImportError:  # the notifications app is optional: without it nobody is told
        return None
    return notify


def bot_owner_notify(
    *, bot, event: str, title: str, body: str, dedupe_key: str | None = None
) -> None:
    """Tell the bot's owner through their notification channels, after commit."""
    notify = _notify_function()
    if notify is None:
        return
    user = bot.user

    def send() -> None:
        try:
            notify(user=user, event=event, title=title, body=body, dedupe_key=dedupe_key)
        except Exception:  # a notification failure never undoes a trading decision
            logger.exception("notification %s for bot %s failed", event, bot.pk)

    transaction.on_commit(send)
