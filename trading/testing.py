"""Chaos harness for the bot runtime (tests/trading/test_chaos.py and bench/trading_chaos.py).

Live market makers trade on the sandbox exchange through real Celery workers. Again and again
a worker is SIGKILLed at a random moment, while its bots place, cancel and poll; the market
keeps moving for a while (orders fill while nobody watches), then stands still; the supervisor
restarts the bots on a surviving worker, they reconcile, and the harness checks that:
  * no order is duplicated on the exchange (no quote level doubles, no id was sent twice),
  * no fill is lost (the exchange's trades of each account are exactly the booked fills),
  * the database equals the exchange (open orders, and every order that changed since the last
    check: status and filled quantity; an order the books hold as unknown is not there),
  * balances reconcile (the exchange's balances are the deposits plus the booked fills).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import redis
from django.conf import settings

from tradecore.domain import Side

BASE_DIR = Path(__file__).resolve().parent.parent
ACTIVE = ("new", "open", "partially_filled", "unknown")
# every wait of a chaos round fails after this long (a hang guard, never a pass condition);
# CHAOS_HANG_GUARD overrides it for an even slower machine
HANG_GUARD = float(os.environ.get("CHAOS_HANG_GUARD", "60"))


class BookMirror:
    """Publishes the sandbox's own books on the collectors' channels (a collector stand-in)."""

    def __init__(self, server, markets: list[tuple[str, str]], every: float = 0.1) -> None:
        from trading.services.channels import book_key, market_channel

        self.server, self.markets, self.every = server, markets, every
        self.redis = redis.Redis.from_url(settings.REDIS_URL)
        self._keys = {m: (market_channel(*m), book_key(*m)) for m in markets}
        self.running = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="book-mirror", daemon=True)

    def start(self) -> BookMirror:
        self.running.set()
        self.thread.start()
        return self

    def publish_once(self) -> None:
        for exchange, symbol in self.markets:
            book = self.server.venues[exchange].symbols[symbol].book
            if book is None:
                continue
            payload = {
                "type": "book",
                "exchange": exchange,
                "symbol": symbol,
                "ts": int(time.time() * 1000),
                "bids": [[float(p), float(q)] for p, q in book.depth(Side.BUY, 10)],
                "asks": [[float(p), float(q)] for p, q in book.depth(Side.SELL, 10)],
            }
            channel, key = self._keys[(exchange, symbol)]
            text = json.dumps(payload)
            self.redis.set(key, text, ex=600)
            self.redis.publish(channel, text)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.running.is_set():
                self.publish_once()
            time.sleep(self.every)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.redis.close()


@dataclass
class ChaosBot:
    bot: object
    account: object  # exchanges.sandbox.testing.SandboxAccount
    funds: dict[str, Decimal]
    symbol: str


@dataclass
class Restart:
    """One kill: how long until the killed lease ended, and until its bots ran again."""

    round: int
    at: float  # wall clock (time.time()) of the kill, to find it in the workers' logs
    victim: int
    phase: str
    bots: int  # bots whose lease the victim held when it died
    lease_ended: float  # seconds from the kill until no killed token held a live lease
    seconds: float  # seconds from the kill until every hit bot reconciled under a new token
    supervised: int  # bots resumed by the supervisor (lease expiry) ...
    handed_over: int  # ... and bots whose next slice was already queued (no expiry waited)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 without values)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil(n * fraction), at least 1
    return ordered[int(rank) - 1]


@dataclass
class ChaosReport:
    kills: int = 0
    checks: int = 0
    check_retries: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    missed: int = 0  # victims gone before the kill landed (not counted as kills)
    killed_during: Counter = field(default_factory=Counter)
    orders: int = 0
    fills: int = 0
    unknown_after_restart: int = 0
    lost: int = 0
    adopted: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        restarts = self.restart_seconds
        return (
            f"{self.kills} SIGKILLs, {self.checks} checks passed in {self.seconds:.0f} s "
            f"({self.check_retries} re-reads of an in-flight step); "
            f"{self.orders} orders, {self.fills} fills; restart after kill "
            f"p50 {percentile(restarts, 0.5):.2f} s, p95 {percentile(restarts, 0.95):.2f} s, "
            f"max {max(restarts, default=0):.2f} s; killed while: {dict(self.killed_during)}; "
            f"unknown after restart {self.unknown_after_restart}, adopted {self.adopted}, "
            f"lost {self.lost}"
        )


class Workers:
    """A Celery worker on the "bots" queue whose pool processes are SIGKILLed at will.

    With the prefork pool every slice runs in a pool process; killing one is exactly a worker
    process dying mid-slice (as the OOM killer would do it), and Celery forks a replacement in
    milliseconds, where a cold start of a whole worker costs seconds of imports.
    """

    def __init__(self, env: dict[str, str], *, pool: str = "prefork", concurrency: int = 4):
        self.env = {**os.environ, **env}
        self.pool, self.concurrency = pool, concurrency
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        # CHAOS_LOG_DIR keeps each worker's log (at INFO) for a post-mortem
        log_dir = os.environ.get("CHAOS_LOG_DIR")
        output, level = subprocess.DEVNULL, "WARNING"
        if log_dir:
            path = os.path.join(log_dir, f"chaos-worker-{os.getpid()}-{len(self.processes)}.log")
            output, level = open(path, "ab"), "INFO"  # noqa: SIM115 (the worker holds it)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "bots", "-P",
             self.pool, "-c", str(self.concurrency), "-n", f"chaos{len(self.processes)}@%h",
             "--without-mingle", "--without-gossip", "--without-heartbeat",
             "--loglevel", level],
            env=self.env, cwd=BASE_DIR, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.processes if p.poll() is None]

    def owns(self, pid: int) -> bool:
        """True if `pid` is a pool process of one of these workers (never kill anything else)."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        return parent in {p.pid for p in self.alive()}

    @staticmethod
    def kill(pid: int) -> bool:
        """SIGKILL one process: no cleanup, no goodbye."""
        try:
            os.kill(pid, signal.SIGKILL)
            return True
        except ProcessLookupError:
            return False

    def stop_all(self) -> None:
        for process in self.alive():
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class Chaos:
    """Kill workers under running live bots and check the books after every restart."""

    def __init__(self, *, server, bots: list[ChaosBot], workers: Workers, seed: int = 1) -> None:
        self.server = server
        self.bots = bots
        self.workers = workers
        self.rng = random.Random(seed)
        self.report = ChaosReport()
        self.mirror = BookMirror(server, sorted({(b.bot.venues.first().exchange, b.symbol)
                                                 for b in bots}))  # fmt: skip
        self.checked_at = None
        self.unknown_seen: set[str] = set()

    # -- the loop --------------------------------------------------------------------------
    def run(self, *, kills: int, max_seconds: float | None = None) -> ChaosReport:
        """Kill until `kills` is reached, checking every invariant after each restart.

        The pass condition is the invariants over the kills, never a count within a time: every
        wait inside a round has its own hang guard (HANG_GUARD, generous for a loaded 2-core
        machine: the killed lease ending, the restart, all running, settling, a check's
        re-reads), so a round ends or fails on a loaded machine as on a quiet one. `max_seconds`
        (a soak's --minutes) only stops early; the caller then sees fewer kills.
        """
        from django.utils import timezone

        started = time.monotonic()
        self.mirror.start()
        self.checked_at = timezone.now()
        try:
            self._wait_all_running(2 * HANG_GUARD)  # the worker's cold start too
            while self.report.kills < kills and (
                max_seconds is None or time.monotonic() - started < max_seconds
            ):
                self._round()
        finally:  # the figures so far, also when an invariant broke
            self.mirror.stop()
            self.server.paused = False
            self.report.seconds = time.monotonic() - started
            self._totals()
        return self.report

    def _round(self) -> None:
        from django.db.models.functions import Now

        from trading.models import BotLease

        time.sleep(self.rng.uniform(0.2, 0.8))  # trade a while
        live = list(
            BotLease.objects.filter(
                bot_id__in=[b.bot.pk for b in self.bots], expires_at__gt=Now()
            ).exclude(holder="")
        )
        pids = sorted({int(lease.holder.split(":")[1]) for lease in live})
        pids = [pid for pid in pids if self.workers.owns(pid)]
        if not pids:
            self._wait_all_running(HANG_GUARD)
            return
        victim = self.rng.choice(pids)
        hit = {
            lease.bot_id: lease.token for lease in live if int(lease.holder.split(":")[1]) == victim
        }
        phase = self._phase(hit)
        if not self.workers.kill(victim):
            self.report.missed += 1
            return
        killed, killed_at = time.monotonic(), time.time()
        self.report.kills += 1
        self.report.killed_during[phase] += 1
        lease_ended = self._wait_leases_ended(hit, killed)  # fills while nobody watches
        self.server.paused = True
        self.mirror.running.clear()
        self.mirror.publish_once()  # the runners' last book is the standing market's book
        supervised = self._restart(hit, killed)
        restarted = time.monotonic()
        self.report.restart_seconds.append(restarted - killed)
        self.report.restarts.append(
            Restart(
                round=self.report.kills, at=killed_at, victim=victim, phase=phase, bots=len(hit),
                lease_ended=lease_ended - killed, seconds=restarted - killed,
                supervised=supervised, handed_over=len(hit) - supervised,
            )
        )  # fmt: skip
        self._wait_all_running(HANG_GUARD)
        self._quiesce()
        quiet = time.monotonic()
        self.check()
        if os.environ.get("CHAOS_DEBUG"):
            print(f"  round {self.report.kills} (pid {victim}, {phase}): restart "
                  f"{restarted - killed:.2f} s, quiesce {quiet - restarted:.2f} s, "
                  f"check {time.monotonic() - quiet:.2f} s")  # fmt: skip
        self.server.paused = False
        self.mirror.running.set()

    def _phase(self, hit: dict) -> str:
        """What the books show the killed bot was doing (best effort: its last order change)."""
        from trading.models import Order

        order = Order.objects.filter(bot_id__in=list(hit)).order_by("-updated_at").first()
        if order is None:
            return "starting"
        if order.status == "new":
            return "placing"
        if order.status == "cancelled":
            return "cancelling"
        return "polling"

    def _wait_leases_ended(self, hit: dict, killed: float) -> float:
        """Wait until no token the victim held is live: expired, or taken over by the next slice.

        Only the killed tokens count: a bot whose next slice (already queued by the victim)
        took the lease over elsewhere runs under a new token, live all along. Returns when.
        """
        from django.db.models import Q
        from django.db.models.functions import Now

        from trading.models import BotLease

        if not hit:
            return killed
        killed_tokens = Q()
        for bot_id, token in hit.items():
            killed_tokens |= Q(bot_id=bot_id, token=token)
        deadline = killed + HANG_GUARD
        while time.monotonic() < deadline:
            if not BotLease.objects.filter(killed_tokens, expires_at__gt=Now()).exists():
                return time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"leases {hit} of killed process still live after {HANG_GUARD} s")

    def _restart(self, hit: dict, killed: float) -> int:
        """Supervise until every bot of the killed worker runs again and has reconciled.

        Returns how many of them the supervisor resumed (the others' next slice was queued).
        """
        from django.utils import timezone

        from trading.models import BotEvent
        from trading.services.bots import bot_supervise

        since = timezone.now() - timedelta(seconds=time.monotonic() - killed)
        deadline = time.monotonic() + 2 * HANG_GUARD
        pending = dict(hit)
        while pending and time.monotonic() < deadline:
            bot_supervise()  # what beat does every 10 s, here every 0.1 s
            for bot_id, token in list(pending.items()):
                events = BotEvent.objects.filter(bot_id=bot_id, kind="reconcile")
                if events.filter(data__token__gt=token).exists():
                    del pending[bot_id]
            time.sleep(0.1)
        if pending:
            raise AssertionError(f"bots {sorted(pending)} not restarted within {2 * HANG_GUARD} s")
        return (
            BotEvent.objects.filter(bot_id__in=list(hit), kind="restart", at__gte=since)
            .values("bot_id")
            .distinct()
            .count()
        )

    def _wait_all_running(self, timeout: float) -> None:
        from trading.models import Bot
        from trading.services.bots import bot_supervise
        from trading.services.leases import lease_is_live

        deadline = time.monotonic() + timeout
        ids = [b.bot.pk for b in self.bots]
        while time.monotonic() < deadline:
            running = Bot.objects.filter(pk__in=ids, status="running").count() == len(ids)
            if running and all(lease_is_live(bot_id=i) for i in ids):
                return
            bot_supervise()  # a slice message lost with the worker: resumed like any other
            time.sleep(0.05)
        states = [
            (bot.pk, bot.status, bot.status_reason, lease_is_live(bot_id=bot.pk))
            for bot in Bot.objects.filter(pk__in=ids).order_by("pk")
        ]
        raise AssertionError(
            f"bots did not reach running under a live lease (id, status, reason, lease): {states}"
        )

    def _fingerprint(self):
        from trading.models import Order

        return list(
            Order.objects.filter(bot_id__in=[b.bot.pk for b in self.bots])
            .order_by("id")
            .values_list("id", "status", "filled_qty")
        )

    def _quiesce(self, stable: float = 0.4, timeout: float = HANG_GUARD) -> None:
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            now = self._fingerprint()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= stable:
                return
            time.sleep(0.1)
        raise AssertionError("the books did not settle")

    # -- the checks ------------------------------------------------------------------------
    def _exchange(self, cb: ChaosBot, cids: list[str]) -> dict:
        """One consistent snapshot of the sandbox's own state for the bot's account.

        Read on the sandbox's event-loop thread (server.call), so nothing moves while it is
        read; this is the exchange's truth, not a client's view of it.
        """
        from tradecore.exchange import OrderNotFound

        venue = self.server.venues[cb.bot.venues.first().exchange]
        account, symbol = cb.account.account_id, cb.symbol

        def read():
            engine = venue.exchange
            orders = {}
            for cid in cids:
                try:
                    orders[cid] = engine.get_order(account, client_order_id=cid)
                except OrderNotFound:
                    orders[cid] = None
            return {
                "open": {o.client_order_id: o for o in engine.open_orders(account, symbol)},
                "orders": orders,
                "trades": {
                    str(venue.trade_numbers[f.trade_id]): f for f in engine.fills(account, symbol)
                },
                "balances": {a: b.total for a, b in engine.balances(account).items()},
            }

        return self.server.call(read)

    def check(self, timeout: float = HANG_GUARD, pause: float = 0.25) -> None:
        """Check every bot; a difference must be gone within `timeout` (an in-flight step).

        A real break (a lost fill, a duplicate, books unlike the exchange) never goes away, so
        it fails after `timeout`; a step still in flight on a slow machine is re-read.
        """
        from django.utils import timezone

        started = timezone.now()
        deadline = time.monotonic() + timeout
        while True:
            try:
                for chaos_bot in self.bots:
                    self._check_bot(chaos_bot)
                break
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise
                self.report.check_retries += 1
                time.sleep(pause)
        self.checked_at = started
        self.report.checks += 1

    def _check_bot(self, cb: ChaosBot) -> None:
        from trading.models import Fill, Order

        bot = cb.bot
        prefix = bot.client_id_prefix
        orders = {o.client_order_id: o for o in Order.objects.filter(bot=bot)}
        fills = {f.trade_id: f for f in Fill.objects.filter(bot=bot)}
        looked_up = [
            cid
            for cid, row in orders.items()
            if row.is_active or row.status == "lost" or row.updated_at >= self.checked_at
        ]
        exchange = self._exchange(cb, looked_up)
        open_ex = {c: o for c, o in exchange["open"].items() if c.startswith(prefix)}
        # no duplicate: no id was refused as a duplicate, no quote level is doubled
        duplicates = [o for o in orders.values() if "Duplicate order" in o.reason]
        assert not duplicates, f"bot {bot.pk}: duplicate sends {duplicates}"
        sides = Counter(o.side.value for o in open_ex.values())
        levels = int(bot.params.get("order_levels", 1))
        assert all(n <= levels for n in sides.values()), f"bot {bot.pk}: doubled quotes {sides}"
        # the database equals the exchange: open orders both ways ...
        for cid, o in open_ex.items():
            row = orders.get(cid)
            assert row is not None, f"bot {bot.pk}: open order {cid} missing from the books"
            assert row.status in ("open", "partially_filled"), (cid, row.status)
            assert row.filled_qty == o.filled_qty, (cid, row.filled_qty, o.filled_qty)
        for cid, row in orders.items():
            if row.status in ("open", "partially_filled"):
                assert cid in open_ex, (
                    f"bot {bot.pk}: {cid} is {row.status} only in the books; the exchange has "
                    f"{exchange['orders'][cid]}; updated {row.updated_at:%H:%M:%S.%f}"
                )
            elif row.status == "new":
                raise AssertionError(f"bot {bot.pk}: {cid} still new after reconciliation")
            elif row.status in ("unknown", "lost"):
                found = exchange["orders"][cid]
                assert found is None, f"bot {bot.pk}: {cid} is {row.status} but on the exchange"
                if row.status == "unknown":
                    self.unknown_seen.add(cid)
            elif row.status != "rejected" and cid in exchange["orders"]:
                # ... and every order that changed since the last check, closed ones included
                found = exchange["orders"][cid]
                assert found is not None, f"bot {bot.pk}: {cid} is {row.status}, unknown there"
                assert (found.status.value, found.filled_qty) == (row.status, row.filled_qty), (
                    cid, found.status, found.filled_qty, row.status, row.filled_qty,
                )  # fmt: skip
        # no lost fill: the account's trades are exactly the booked fills
        trades = exchange["trades"]
        assert set(trades) == set(fills), (
            f"bot {bot.pk}: trades not booked {sorted(set(trades) - set(fills))[:5]}, "
            f"booked but not traded {sorted(set(fills) - set(trades))[:5]}"
        )
        for trade_id, trade in trades.items():
            fill = fills[trade_id]
            assert (fill.qty, fill.price, fill.fee) == (trade.qty, trade.price, trade.fee)
            assert fill.order.client_order_id == trade.client_order_id
        # balances reconcile: deposits plus booked fills
        self._check_balances(cb, exchange["balances"], fills.values())

    def _check_balances(self, cb: ChaosBot, balances: dict, fills) -> None:
        expected = {asset: Decimal(str(amount)) for asset, amount in cb.funds.items()}
        for f in fills:
            base, quote = f.symbol.split("/")
            sign = 1 if f.side == "buy" else -1
            expected[base] = expected.get(base, Decimal(0)) + sign * f.qty
            expected[quote] = expected.get(quote, Decimal(0)) - sign * f.price * f.qty
            expected[f.fee_asset] = expected.get(f.fee_asset, Decimal(0)) - f.fee
        for asset, amount in expected.items():
            total = balances.get(asset, Decimal(0))
            assert total == amount, f"bot {cb.bot.pk}: {asset} {total} on the exchange, {amount}"

    def _totals(self) -> None:
        from trading.models import Fill, Order

        ids = [b.bot.pk for b in self.bots]
        self.report.orders = Order.objects.filter(bot_id__in=ids).count()
        self.report.fills = Fill.objects.filter(bot_id__in=ids).count()
        self.report.lost = Order.objects.filter(bot_id__in=ids, status="lost").count()
        self.report.adopted = Order.objects.filter(bot_id__in=ids, adopted=True).count()
        self.report.unknown_after_restart = len(self.unknown_seen)
