"""Runtime writes reach the bot's and the owner's Channels groups, after commit, never before."""

import asyncio
import threading
from decimal import Decimal

from channels.layers import channel_layers

from tests.trading.conftest import VENUE_A
from trading.events import bot_group, events_flush, user_group
from trading.services.orders import Batch, OrderDraft, bot_books_write


class Listener:
    """A channel in the given groups, on a layer and event loop of its own (a thread)."""

    def __init__(self, groups):
        self.layer = channel_layers.make_backend("default")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.channel = self._run(self._join(groups))

    async def _join(self, groups):
        channel = await self.layer.new_channel()
        for group in groups:
            await self.layer.group_add(group, channel)
        return channel

    def _run(self, coroutine, timeout=10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def receive(self, timeout=5.0):
        async def take():
            try:
                return await asyncio.wait_for(self.layer.receive(self.channel), timeout)
            except TimeoutError:
                return None

        return self._run(take(), timeout + 5)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_a_write_sends_one_event_per_kind_to_the_bot_and_its_owner(
    alice, make_bot, django_capture_on_commit_callbacks
):
    bot = make_bot(alice)
    bot_listener, user_listener = Listener([bot_group(bot.pk)]), Listener([user_group(alice.pk)])
    drafts = [
        OrderDraft(client_order_id=f"{bot.client_id_prefix}1-{i}", exchange=VENUE_A,
                   symbol="BTC/USDT", side="buy", type="limit", qty=Decimal("0.01"),
                   price=Decimal("30000"))
        for i in (1, 2)
    ]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        bot_books_write(bot=bot, token=None, batch=Batch(orders_new=drafts))
    assert bot_listener.receive(timeout=0.3) is None  # nothing before the commit
    for callback in callbacks:
        callback()
    events_flush()
    message = bot_listener.receive()
    assert message["type"] == "event.forward"
    event = message["event"]
    assert event["kind"] == "order" and event["bot_id"] == bot.pk
    assert [o["client_order_id"] for o in event["data"]["orders"]] == [
        d.client_order_id for d in drafts
    ]
    assert user_listener.receive()["event"]["kind"] == "order"
    bot_listener.close()
    user_listener.close()


def test_status_changes_are_published(alice, make_bot, django_capture_on_commit_callbacks):
    from trading.services.bots import bot_start

    bot = make_bot(alice)
    listener = Listener([bot_group(bot.pk)])
    with django_capture_on_commit_callbacks(execute=True):
        bot_start(bot=bot)
    events_flush()
    event = listener.receive()["event"]
    listener.close()
    assert event["kind"] == "status"
    assert event["data"] == {"status": "starting", "reason": "Started by the owner.",
                             "previous": "draft"}  # fmt: skip
