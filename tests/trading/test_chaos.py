"""Chaos: live bots on real workers, SIGKILLed at random 50 times; the books stay right.

Real Postgres, Redis, a Celery worker (prefork pool, its pool processes killed) and the
sandbox exchange; nothing mocked. See trading/testing.py for what is checked after every
restart; bench/trading_chaos.py runs the same for longer (--kills, --minutes). The pass
condition is the invariants after each of the 50 kills; no wait in a round is a pass
condition (each is a hang guard of trading.testing.HANG_GUARD seconds), so a loaded machine
takes longer and stays green.
"""

from decimal import Decimal

import pytest

from tests.trading import workers as helpers
from tests.trading.conftest import LIVE_OK, VENUE_A
from trading.services.bots import LiveConsent, bot_create, bot_start
from trading.testing import Chaos, ChaosBot, Workers

# the suite's 300 s per-test timeout would be a pass condition on speed here (50 rounds take
# 4-6 minutes on a loaded 2-core machine): this bound is only a hang guard
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.timeout(3600),
]

KILLS = 50
FUNDS = {"USDT": "20000", "BTC": "0.2", "ETH": "3"}
CHAOS_PARAMS = {
    "order_amount": "0.002",
    "bid_spread": "0.0001",
    "ask_spread": "0.0001",
    "order_refresh_time_ms": 400,
    "filled_order_delay_ms": 0,
}


def test_fifty_sigkills_lose_no_fill_duplicate_no_order_and_keep_books_equal(
    alice, alice_totp, sandbox, sandbox_url, live_account, process_env, settings
):
    settings.PEREGRINE_BOT_LEASE_SECONDS = 1
    settings.PEREGRINE_BOT_MAX_RESTARTS_PER_HOUR = 100_000
    helpers.purge_bots_queue()
    consent = LiveConsent(**LIVE_OK)
    chaos_bots = []
    for index, symbol in enumerate(["BTC/USDT", "BTC/USDT", "ETH/USDT"]):
        account = live_account(alice, funds=FUNDS, label=f"chaos-{index}")
        params = dict(CHAOS_PARAMS)
        if symbol == "ETH/USDT":
            params["order_amount"] = "0.02"
        bot = bot_create(
            user=alice, name=f"chaos-{index}", strategy="pure_market_making", params=params,
            symbols=[symbol], venues=[{"exchange_account_id": account.pk}], budget="10000",
            mode="live", live=consent,
        )  # fmt: skip
        bot_start(bot=bot, live=consent)
        funds = {asset: Decimal(amount) for asset, amount in FUNDS.items()}
        chaos_bots.append(ChaosBot(bot, account.sandbox, funds, symbol))
    env = {
        **process_env,
        **helpers.worker_env(
            sandbox_url, lease_seconds=1, slice_seconds=4, poll_seconds=0.25,
            checkpoint_seconds=0.5,
        ),
    }  # fmt: skip
    workers = Workers(env, pool="prefork", concurrency=4)
    workers.start()
    try:
        # no time budget: the invariants after every kill are the pass condition (each wait in
        # a round has its own hang guard), so a loaded machine is slower, never red
        report = Chaos(server=sandbox[0], bots=chaos_bots, workers=workers, seed=6).run(kills=KILLS)
    finally:
        workers.stop_all()
    print("\nchaos:", report.summary())
    assert report.kills == KILLS, report.summary()
    assert report.checks == report.kills
    assert len(report.restarts) == KILLS
    assert report.fills > 0 and report.orders > 0
    assert VENUE_A in sandbox[0].venues
