"""Chaos soak: the chaos test of tests/trading/test_chaos.py, for as long as you like.

Live market makers trade on the sandbox exchange through a real Celery worker; its pool
processes are SIGKILLed at random moments again and again, and after every restart the harness
(trading/testing.py) checks that no order was duplicated, no fill lost, the books equal the
exchange and the balances reconcile.

Run: python bench/trading_chaos.py --kills 200 [--minutes 90] [--bots 3] [--seed 1]
         [--log-dir var/chaos]
Without --kills it only says how to run it (`make bench` runs every bench file). It uses
DATABASE_URL's server with a database of its own (<name>_trading_chaos, recreated) and REDIS_URL.
It prints the kills, the checks passed, orders and fills, the restart time after a kill
(p50/p95/max, and its two parts: until the killed lease ended, then until the bots ran again),
the kills per phase, lost and unknown orders, and the slowest restarts with their wall-clock
time; --log-dir keeps the worker's log (INFO) there to look those up.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
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
    parser.add_argument("--minutes", type=float, default=90, help="stop early after this")
    parser.add_argument("--bots", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-dir", help="keep the worker's log (INFO) in this folder")
    args = parser.parse_args()
    if not args.kills:
        print("skipped: pass --kills N (and --minutes M) to run the chaos soak")
        return 0
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        print("skipped: needs DATABASE_URL and REDIS_URL (make bench provides them)")
        return 0
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
        os.environ["CHAOS_LOG_DIR"] = os.path.abspath(args.log_dir)
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
        "LOG_LEVEL": "INFO" if args.log_dir else "WARNING",
    }
    workers = Workers(env, pool="prefork", concurrency=args.bots + 1)
    workers.start()
    chaos = Chaos(server=server, bots=bots, workers=workers, seed=args.seed)
    failed = None
    try:
        chaos.run(kills=args.kills, max_seconds=args.minutes * 60)
    except AssertionError as exc:
        failed = exc
    finally:
        workers.stop_all()
        server.stop_thread()
    _print(chaos.report, args)
    if failed is not None:
        print(f"chaos soak FAILED after {chaos.report.kills} kills: {failed}")
        return 1
    return 0 if chaos.report.kills >= args.kills else 1


def _print(report, args) -> None:
    from trading.testing import percentile

    def spread(values) -> str:
        return (
            f"p50 {percentile(values, 0.5):.2f} s, p95 {percentile(values, 0.95):.2f} s, "
            f"max {max(values, default=0):.2f} s"
        )

    restarts = report.restarts
    load = os.getloadavg()
    print(f"chaos soak: {report.summary()}")
    print(f"  kills {report.kills} (of {args.kills} asked; {report.missed} victims already gone)")
    print(f"  checks passed {report.checks}, re-reads of an in-flight step {report.check_retries}")
    print(f"  orders {report.orders}, fills {report.fills}, adopted {report.adopted}")
    print(f"  lost {report.lost}, unknown after restart {report.unknown_after_restart}")
    print(f"  restart after kill: {spread([r.seconds for r in restarts])}")
    print(f"    until the killed lease ended: {spread([r.lease_ended for r in restarts])}")
    print(f"    then until running again: {spread([r.seconds - r.lease_ended for r in restarts])}")
    print(f"  bots hit {sum(r.bots for r in restarts)}: resumed by the supervisor "
          f"{sum(r.supervised for r in restarts)}, next slice already queued "
          f"{sum(r.handed_over for r in restarts)}")  # fmt: skip
    print(f"  killed while: {dict(sorted(report.killed_during.items()))}")
    print(f"  load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} cores (a shared machine: other processes count too)")  # fmt: skip
    print("  slowest restarts (round, UTC time of the kill, pid, phase, bots, lease, total):")
    for r in sorted(restarts, key=lambda r: r.seconds, reverse=True)[:5]:
        stamp = time.strftime("%H:%M:%S", time.gmtime(r.at)) + f".{int(r.at % 1 * 1000):03d}"
        print(f"    #{r.round} {stamp} pid {r.victim} {r.phase} {r.bots} bots, "
              f"{r.lease_ended:.2f} s, {r.seconds:.2f} s")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
