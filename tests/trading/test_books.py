"""The runner's books on the database threads: paper writes handed over, in order, fenced."""

import threading
from decimal import Decimal

import pytest

from trading.models import Order
from trading.runtime import db
from trading.runtime.books import Books
from trading.services import leases
from trading.services.leases import LeaseLost
from trading.services.orders import OrderChange, OrderDraft

pytestmark = pytest.mark.django_db(transaction=True)


def _draft(cid: str) -> OrderDraft:
    return OrderDraft(
        client_order_id=cid, exchange="paper", symbol="BTC/USDT", side="buy", type="limit",
        qty=Decimal("0.01"), price=Decimal("50000"),
    )  # fmt: skip


@pytest.fixture
def books(alice, make_bot, settings):
    settings.PEREGRINE_BOT_DB_THREADS = 2  # as in a worker: writes on the database threads
    bot = make_bot(alice)
    token, _ = leases.lease_take(bot_id=bot.pk, holder="test", ttl_seconds=30)
    yield Books(bot, token, paper=True, account_keys={"paper": "paper"})
    db.close_all()


def test_a_paper_write_is_handed_over_and_the_next_waits_for_it(books):
    gate = threading.Event()
    db._pool(2).submit(gate.wait)  # keep one database thread busy: writes queue behind it
    db._pool(2).submit(gate.wait)
    books.batch.orders_new.append(_draft("t-1"))
    books.flush_behind()
    assert not books.batch, "the batch went to a database thread"
    books.batch.orders_new.append(_draft("t-2"))
    books.batch.change("t-1", OrderChange(status="cancelled"))
    books.flush_behind()  # the first write is still in flight: this one waits in the batch
    assert books.batch.orders_new and books.batch.order_changes
    gate.set()
    books.flush()  # waits for the write in flight, then writes the rest, in that order
    assert dict(Order.objects.values_list("client_order_id", "status")) == {
        "t-1": "cancelled",
        "t-2": "new",
    }


def test_a_refused_paper_write_raises_on_the_bots_thread(books):
    leases.lease_take(
        bot_id=books.bot.pk, holder="other", ttl_seconds=30, handover_token=books.token
    )
    books.batch.orders_new.append(_draft("t-3"))
    books.flush_behind()
    with pytest.raises(LeaseLost):
        books.settle()
    assert not Order.objects.exists()


def test_a_slice_message_for_a_deleted_bot_takes_no_lease_and_raises_nothing(alice, make_bot):
    from trading.models import BotLease

    bot = make_bot(alice)
    gone = bot.pk
    bot.delete()
    # a leftover slice message: nothing to take, and no foreign-key error at commit
    assert leases.lease_take(bot_id=gone, holder="test", ttl_seconds=30) is None
    assert not BotLease.objects.filter(bot_id=gone).exists()
