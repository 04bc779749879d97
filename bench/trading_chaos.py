"""Chaos soak: the chaos test of tests/trading/test_chaos.py, for as long as you like.

Live market makers trade on the sandbox exchange through a real Celery worker; its pool
processes are SIGKILLed at random moments again and again, and after every restart the harness
(trading/testing.py) checks that no order was duplicated, no fill lost, the books equal the
exchange and the balances reconcile.

Run: python bench/trading_chaos.py --kills 300 [--minutes 30] [--bots 3] [--seed 1]
Without --kills it only says how to run it (`make bench` runs every bench file). It uses
DATABASE_URL's server with a database of its own (<name>_trading_chaos, recreated) and REDIS_URL.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

FUNDS = {"USDT": "20000", "BTC": "0.2", "ETH": "3"}
PARAMS = {
    "order_amount": "0.002",
    "bid_spread": "0.0001",
    "ask_spread": "0.0001",
    "order_refresh_time_ms": 400,
    "filled_order_delay_ms": 0,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--bots", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not args.kills:
        print("skipped: pass --kills N (and --minutes M) to run the chaos soak")
        return 0
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        print("skipped: needs DATABASE_URL and REDIS_URL (make bench provides them)")
        return 0
    venue = f"chaos{secrets.token_hex(2)}"
    import trading_bench

    trading_bench._setup(venue, suffix="trading_chaos")
    from django.conf import settings
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import User
    from exchanges.sandbox.app import build_server
    from exchanges.sandbox.testing import open_account
    from exchanges.services.credentials import exchange_account_create
    from trading.services.bots import LiveConsent, bot_create, bot_start
    from trading.testing import Chaos, ChaosBot, Workers

    settings.PEREGRINE_BOT_DB_THREADS = 0
    settings.PEREGRINE_BOT_LEASE_SECONDS = 1
    settings.PEREGRINE_BOT_MAX_RESTARTS_PER_HOUR = 10**9
    server = build_server([venue], tick_seconds=0.05, history_bars=60, weight_limit=10**9)
    url = server.start_in_thread()
    settings.PEREGRINE_SANDBOX_URL = url
    user = User.objects.create_user(email=f"chaos-{secrets.token_hex(3)}@example.com")
    TOTPDevice.objects.create(user=user, name="chaos", confirmed=True)
    consent = LiveConsent(second_factor_verified=True, recently_authenticated=True, confirmed=True)
    bots = []
    for index in range(args.bots):
        symbol = "ETH/USDT" if index % 3 == 2 else "BTC/USDT"
        sandbox = open_account(server, url, FUNDS)
        account = exchange_account_create(
            user=user, exchange=venue, label=f"chaos-{index}", mode="live",
            api_key=sandbox.api_key, secret=sandbox.secret,
        )  # fmt: skip
        params = {**PARAMS, "order_amount": "0.02" if symbol == "ETH/USDT" else "0.002"}
        bot = bot_create(
            user=user, name=f"chaos-{index}", strategy="pure_market_making", params=params,
            symbols=[symbol], venues=[{"exchange_account_id": account.pk}], budget="10000",
            mode="live", live=consent,
        )  # fmt: skip
        bot_start(bot=bot, live=consent)
        funds = {asset: Decimal(amount) for asset, amount in FUNDS.items()}
        bots.append(ChaosBot(bot, sandbox, funds, symbol))
    env = {
        "PEREGRINE_SANDBOX_URL": url,
        "PEREGRINE_BOT_LEASE_SECONDS": "1",
        "PEREGRINE_BOT_SLICE_SECONDS": "4",
        "PEREGRINE_BOT_POLL_SECONDS": "0.25",
        "PEREGRINE_BOT_CHECKPOINT_SECONDS": "0.5",
        "PEREGRINE_BOT_DB_THREADS": "2",
    }
    workers = Workers(env, pool="prefork", concurrency=args.bots + 1)
    workers.start()
    try:
        report = Chaos(server=server, bots=bots, workers=workers, seed=args.seed).run(
            kills=args.kills, max_seconds=args.minutes * 60
        )
    except AssertionError as exc:
        print(f"chaos soak FAILED: {exc}")
        return 1
    finally:
        workers.stop_all()
        server.stop_thread()
    print(f"chaos soak: {report.summary()}")
    return 0 if report.kills >= args.kills else 1


if __name__ == "__main__":
    sys.exit(main())
