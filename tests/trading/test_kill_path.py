"""The kill path under load: several live bots breach their risk limit at once on one worker.

The worker has a single database thread (PEREGRINE_BOT_DB_THREADS=1) shared by every bot. A
halt must not make exchange calls on that thread nor wait on it from it: the breach revokes the
lease and enqueues a cancel task, which another worker thread runs. Every bot ends stopped, its
orders cancelled on the exchange and in the books, and the worker still runs bots afterwards.
"""

import pytest

from exchanges.gateway.clients import sync_client
from tests.conftest import wait_until
from tests.trading import workers
from tests.trading.conftest import LIVE_OK, VENUE_A
from trading.models import Bot, BotEvent, Order
from trading.services.bots import LiveConsent, bot_create, bot_start, bot_stop
from trading.services.leases import lease_is_live

pytestmark = pytest.mark.django_db(transaction=True)
BOTS = 4


@pytest.fixture(autouse=True)
def _clean_queue():
    workers.purge_bots_queue()


def _live_bot(user, account, index):
    consent = LiveConsent(**LIVE_OK)
    return bot_create(
        user=user,
        name=f"breach-{index}",
        strategy="pure_market_making",
        params={
            "order_amount": "0.01",
            "order_refresh_time_ms": 60_000,
            "bid_spread": "0.01",
            "ask_spread": "0.01",
        },
        symbols=["BTC/USDT"],
        venues=[{"exchange_account_id": account.pk}],
        budget="10000",
        mode="live",
        live=consent,
        risk_limits={"daily_loss_limit": "0.01"},
        on_breach="kill",
    )


def _stopped_by_the_guard(bot_ids):
    bots = list(Bot.objects.filter(pk__in=bot_ids))
    done = all(b.status == Bot.Status.STOPPED for b in bots)
    active = Order.objects.filter(bot_id__in=bot_ids, status__in=Order.ACTIVE).exists()
    cancels = BotEvent.objects.filter(bot_id__in=bot_ids, kind="kill").count()
    return done and not active and cancels == len(bot_ids)


def test_live_bots_breaching_at_once_are_killed_without_exhausting_the_db_pool(
    alice, alice_totp, live_account, sandbox, sandbox_url, child_processes, feeder, make_bot
):
    env = workers.worker_env(sandbox_url, db_threads=1, slice_seconds=30, lease_seconds=10)
    workers.start_worker(child_processes, env, "breach", threads=16)
    accounts = [live_account(alice, funds={"USDT": "100000", "BTC": "1"}) for _ in range(BOTS)]
    bots = [_live_bot(alice, account, index) for index, account in enumerate(accounts)]
    book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
    mid = float((book.best_bid()[0] + book.best_ask()[0]) / 2)
    ids = [bot.pk for bot in bots]
    # the market only falls: every bot's 1 BTC loses value, and each guard halts its bot
    with feeder(start=mid, step=-2.0, wave=False):
        for bot in bots:
            bot_start(bot=bot, live=LiveConsent(**LIVE_OK))
        wait_until(
            lambda: _stopped_by_the_guard(ids),
            timeout=180,
            interval=0.5,
            what="every bot killed by its guard, its orders cancelled",
        )
    for bot in Bot.objects.filter(pk__in=ids):
        assert bot.status_reason.startswith("Killed: Risk limit daily_loss"), bot.status_reason
        assert not lease_is_live(bot_id=bot.pk)
    placed = Order.objects.filter(bot_id__in=ids, exchange_order_id__gt="").count()
    assert placed >= BOTS, "every bot had orders on the exchange when it was killed"
    for account in accounts:
        client = sync_client(
            VENUE_A,
            api_key=account.sandbox.api_key,
            secret=account.sandbox.secret,
            sandbox_url=account.sandbox.base_url,
        )
        assert client.fetch_open_orders("BTC/USDT") == []
    # the worker's database thread is free: a bot started now runs, and stops
    after = make_bot(alice)
    with feeder(start=mid):
        bot_start(bot=after)
        workers.wait_running([after.pk], timeout=60)
        bot_stop(bot=after)
        wait_until(
            lambda: Bot.objects.get(pk=after.pk).status == "stopped",
            timeout=60,
            what="the later bot stopped",
        )
