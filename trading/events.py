"""Live updates of bots: after commit, to Channels groups `bot.<id>` and `user.<owner id>`.

Every message is {"type": "event.forward", "event": EVENT}; the consumers forward EVENT as is:

    {"kind": KIND, "bot_id": 7, "at": "2026-01-01T00:00:00+00:00", "data": {...}}

KIND and its data:
    status       {"status", "reason", "previous"}
    order        {"orders": [{"client_order_id", "symbol", "side", "type", "price", "qty",
                  "filled_qty", "status", "reason", "exchange"}, ...]}   (the orders one write
                  of the runtime changed: one event per write, however many orders)
    fill         {"fills": [{"trade_id", "client_order_id", "symbol", "side", "price", "qty",
                  "fee", "fee_asset", "liquidity", "exchange", "executed_at"}, ...]}
    signal       {"symbol", "kind", "indicators"}
    risk         {"rule", "message", "action"}
    error        {"message"}
    reconcile    {"adopted", "resolved", "fills_booked", "lost"}
    kill_switch  {"reason", "scope"}
    history      {"kinds"}   (entries the runtime wrote in the bot's history: slices, alerts, ...)
    equity       {"at", "total_value", "valuation_asset"}   (the minute's performance snapshot:
                  its point only; the page redraws the curve from the database)
Prices and quantities are strings (exact decimals). Sending never blocks the caller: messages go
out, in order, from one background event loop per process, so a slow Redis cannot stall a bot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


def bot_group(bot_id: int) -> str:
    return f"bot.{bot_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class _Sender:
    """One asyncio loop thread per process that sends to the channel layer, one at a time.

    Sending one message after the other keeps the layer's connection pool small however many
    bots write at once; the queue absorbs bursts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._pending = 0
        self._idle = threading.Condition()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    self._queue = asyncio.Queue()
                    loop.create_task(self._drain())
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name="bot-events", daemon=True).start()
                ready.wait(5)
                self._loop = loop
            return self._loop

    async def _drain(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        while True:
            groups, message = await self._queue.get()
            try:
                if layer is not None:
                    for group in groups:
                        await layer.group_send(group, message)
            except Exception as exc:  # the page catches up on its next event or reload
                logger.warning("bot event not delivered: %s", exc)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def send(self, groups: list[str], event: dict) -> None:
        loop = self._start()
        with self._idle:
            self._pending += 1
        message = {"type": "event.forward", "event": event}
        loop.call_soon_threadsafe(self._queue.put_nowait, (groups, message))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait for the messages sent so far (tests, shutdown)."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending <= 0, timeout)


_sender = _Sender()


def bot_event(*, bot_id: int, kind: str, data: dict) -> dict:
    return {"kind": kind, "bot_id": bot_id, "at": timezone.now().isoformat(), "data": data}


def bot_events_send(*, bot_id: int, user_id: int, events: list[dict]) -> None:
    """Send already-built events now (callers that have committed already).

    The owner's data version moves first (config/readcache.py), so whoever reacts to the event
    reads past it."""
    from config.readcache import user_data_changed

    if events:
        user_data_changed(user_id)
    for event in events:
        _sender.send([bot_group(bot_id), user_group(user_id)], event)


def group_events_send(*, groups: list[str], event: dict) -> None:
    """Send one event to other apps' groups (e.g. a backtest's page) through the same
    non-blocking sender, as {"type": "event.forward", "event": event}."""
    _sender.send(list(groups), event)


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
