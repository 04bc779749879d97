"""Paper bots on the runtime: quotes and fills booked, checkpoints, restarts, failures, signals."""

import threading
import time

import pytest
from django.db import connection
from django.db.models import Sum

from tests.conftest import wait_until
from tests.trading.conftest import VENUE_A
from trading.models import Bot, BotLease, Fill, Order, Signal
from trading.runtime.runner import BotRunner
from trading.services.bots import bot_pause, bot_start, bot_stop
from trading.services.reconcile import paper_balances


def _run(bot, feeder, handover=None):
    runner = BotRunner(bot.pk)
    with feeder():
        outcome = runner.run(handover)
    bot.refresh_from_db()
    return runner, outcome


def _assert_books_consistent(bot):
    for order in Order.objects.filter(bot=bot):
        booked = Fill.objects.filter(order=order).aggregate(q=Sum("qty"))["q"] or 0
        assert booked == order.filled_qty, order
        assert order.status not in ("new", "unknown"), order


def _sim_totals(runner):
    venue = runner.venues[VENUE_A]
    return {a: b.total for a, b in venue.balances("paper").items() if b.total}


def test_paper_market_maker_quotes_fills_and_books_every_fill(alice, make_bot, feeder):
    bot = make_bot(alice)
    bot_start(bot=bot)
    runner, outcome = _run(bot, feeder)
    assert outcome == "continued"
    assert bot.status == Bot.Status.RUNNING
    assert "reconciled" in bot.status_reason
    orders = Order.objects.filter(bot=bot)
    assert orders.count() >= 4
    assert Fill.objects.filter(bot=bot).count() >= 1
    assert all(o.client_order_id.startswith(f"pg{bot.pk}-") for o in orders)
    _assert_books_consistent(bot)
    # the paper venue's balances are exactly the starting funds plus the booked fills
    expected = {a: v for a, v in paper_balances(bot)[VENUE_A].items() if v}
    assert _sim_totals(runner) == expected
    assert bot.strategy_state is not None and bot.checkpoint_at is not None
    lease = BotLease.objects.get(bot=bot)
    assert lease.expires_at is not None and bot.dispatched_at is not None  # handed over
    assert bot.events.filter(kind="slice").exists()


def test_next_slice_takes_the_lease_over_and_keeps_the_quotes(alice, make_bot, feeder):
    bot = make_bot(alice, params={**_mm(), "order_refresh_time_ms": 60_000})
    bot_start(bot=bot)
    first, _ = _run(bot, feeder)
    open_before = set(
        Order.objects.filter(bot=bot, status__in=Order.ACTIVE).values_list(
            "client_order_id", flat=True
        )
    )
    assert open_before
    token = BotLease.objects.get(bot=bot).token
    second, outcome = _run(bot, feeder, handover=token)
    assert outcome == "continued"
    assert BotLease.objects.get(bot=bot).token == token + 1
    # within the refresh time nothing is re-quoted: the restored orders are still the quotes
    active = Order.objects.filter(bot=bot, status__in=Order.ACTIVE)
    assert set(active.values_list("client_order_id", flat=True)) <= open_before | set(
        Order.objects.filter(bot=bot, lease_token=token + 1).values_list(
            "client_order_id", flat=True
        )
    )
    levels = list(active.values_list("side", "level"))
    assert len(levels) == len(set(levels)), "a quote level doubled after the hand-over"
    _assert_books_consistent(bot)
    expected = {a: v for a, v in paper_balances(bot)[VENUE_A].items() if v}
    assert _sim_totals(second) == expected


def _mm():
    from tests.trading.conftest import MM_PARAMS

    return dict(MM_PARAMS)


def test_the_next_slice_on_the_same_process_carries_on_from_memory(alice, make_bot, feeder):
    from trading.runtime.runner import _parked, bot_run_slice

    bot = make_bot(alice)
    bot_start(bot=bot)
    with feeder():
        assert bot_run_slice(bot.pk) == "continued"
        token, parked, _ = _parked[bot.pk]
        assert bot_run_slice(bot.pk, token) == "continued"
    assert _parked[bot.pk][1] is parked  # the same runner, one token on
    assert BotLease.objects.get(bot=bot).token == token + 1
    reconciles = bot.events.filter(kind="reconcile")
    assert [e.data["token"] for e in reconciles] == [token]  # no rebuild for the second slice
    assert Order.objects.filter(bot=bot, lease_token=token + 1).exists()
    _assert_books_consistent(bot)


def test_a_second_runner_is_refused_while_the_lease_is_held(alice, make_bot, feeder):
    bot = make_bot(alice)
    bot_start(bot=bot)
    _run(bot, feeder)  # hands over: the lease stays held for the next slice
    assert BotRunner(bot.pk).run() == "busy"


def test_restart_after_a_crash_rebuilds_the_paper_venue_from_the_books(alice, make_bot, feeder):
    bot = make_bot(alice, params={**_mm(), "order_refresh_time_ms": 60_000})
    bot_start(bot=bot)
    _run(bot, feeder)
    # the worker died: nobody hands over, the lease runs out
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE trading_botlease SET expires_at = now() - interval '1 second' "
            "WHERE bot_id = %s",
            [bot.pk],
        )
    runner, outcome = _run(bot, feeder)
    assert outcome == "continued"
    reconcile = bot.events.filter(kind="reconcile").order_by("-at", "-id").first()
    assert reconcile.data["resolved"] >= 1  # open orders were put back on the paper book
    _assert_books_consistent(bot)
    expected = {a: v for a, v in paper_balances(bot)[VENUE_A].items() if v}
    assert _sim_totals(runner) == expected


def test_a_strategy_that_raises_stops_its_bot_not_the_worker(alice, make_bot, feeder, monkeypatch):
    from tradecore.strategies.market_making import PureMarketMakingStrategy

    def broken(self):
        raise ZeroDivisionError("bad quote")

    monkeypatch.setattr(PureMarketMakingStrategy, "quote_intent", broken)
    bot = make_bot(alice)
    bot_start(bot=bot)
    runner, outcome = _run(bot, feeder)
    assert outcome == "error"
    assert bot.status == Bot.Status.ERROR
    assert "ZeroDivisionError: bad quote" in bot.status_reason
    assert BotLease.objects.get(bot=bot).expires_at is None  # released
    assert not Order.objects.filter(bot=bot, status__in=Order.ACTIVE).exists()


def test_pause_at_a_slice_start_cancels_the_orders_and_lets_go(alice, make_bot, feeder):
    bot = make_bot(alice, params={**_mm(), "order_refresh_time_ms": 60_000})
    bot_start(bot=bot)
    _run(bot, feeder)
    assert Order.objects.filter(bot=bot, status__in=Order.ACTIVE).exists()
    bot_pause(bot=bot)
    token = BotLease.objects.get(bot=bot).token
    _, outcome = _run(bot, feeder, handover=token)
    assert outcome == "idle"
    assert bot.status == Bot.Status.PAUSED
    assert not Order.objects.filter(bot=bot, status__in=Order.ACTIVE).exists()
    assert BotLease.objects.get(bot=bot).expires_at is None


def test_signal_strategy_stores_signals_with_indicator_values(alice, make_bot, market):
    bot = make_bot(
        alice,
        strategy="ema_cross",
        params={"fast": 2, "slow": 4, "allocation": 0.5},
        paper_balances={VENUE_A: {"USDT": "10000"}},
    )
    bot_start(bot=bot)
    closes = [100, 100, 100, 100, 90, 80, 70, 90, 110, 130, 150, 120, 90, 60, 40]
    minute = 60_000
    start = (int(time.time() * 1000) // minute - len(closes)) * minute

    def publish():
        time.sleep(0.5)
        for i, close in enumerate(closes):
            market.book(VENUE_A, "BTC/USDT", close - 0.5, close + 0.5, size="1000")
            market.candle(VENUE_A, "BTC/USDT", start + i * minute, float(close))
            time.sleep(0.05)

    thread = threading.Thread(target=publish)
    thread.start()
    outcome = BotRunner(bot.pk).run()
    thread.join()
    assert outcome == "continued"
    signals = list(Signal.objects.filter(bot=bot).order_by("at", "id"))
    kinds = [s.kind for s in signals]
    assert "entry" in kinds and "exit" in kinds
    entry = signals[kinds.index("entry")]
    assert entry.indicators["fast"] > entry.indicators["slow"]  # it crossed above
    assert entry.intents[0]["side"] == "buy" and entry.intents[0]["type"] == "market"
    fills = Fill.objects.filter(bot=bot).order_by("executed_at")
    assert [f.side for f in fills][:2] == ["buy", "sell"]
    _assert_books_consistent(Bot.objects.get(pk=bot.pk))


@pytest.mark.django_db(transaction=True)
def test_pause_and_stop_reach_a_running_runner_at_once(alice, make_bot, feeder, settings):
    settings.PEREGRINE_BOT_SLICE_SECONDS = 30
    bot = make_bot(alice, params={**_mm(), "order_refresh_time_ms": 60_000})
    Bot.objects.filter(pk=bot.pk).update(status=Bot.Status.STARTING)
    result = {}

    def run():
        result["outcome"] = BotRunner(bot.pk).run()
        connection.close()

    with feeder():
        thread = threading.Thread(target=run)
        thread.start()
        wait_until(
            lambda: Order.objects.filter(bot=bot, status__in=Order.ACTIVE).count() >= 2,
            timeout=15,
            what="quotes",
        )
        started = time.monotonic()
        bot_stop(bot=bot)
        thread.join(15)
    assert result["outcome"] == "stopped"
    assert time.monotonic() - started < 3  # the control message, not the next renewal
    bot.refresh_from_db()
    assert bot.status == Bot.Status.STOPPED
    assert not Order.objects.filter(bot=bot, status__in=Order.ACTIVE).exists()
    assert BotLease.objects.get(bot=bot).expires_at is None


def test_a_signal_bot_on_a_market_without_history_fetches_it_and_warms_up(
    alice, make_bot, feeder, settings
):
    from marketdata.models import Candle

    settings.PEREGRINE_COLLECTOR_HISTORY_BARS = 300
    bot = make_bot(
        alice,
        strategy="ema_cross",
        params={"fast": 3, "slow": 8, "allocation": 0.5},
        paper_balances={VENUE_A: {"USDT": "10000"}},
    )
    bot_start(bot=bot)
    assert not Candle.objects.filter(exchange=VENUE_A, symbol="BTC/USDT").exists()
    runner, outcome = _run(bot, feeder)
    assert outcome == "continued"
    bars = Candle.objects.filter(exchange=VENUE_A, symbol="BTC/USDT", timeframe="1m").count()
    assert bars >= 290, bars  # the exchange's recent history (the forming bar never)
    state = runner.strategy.inner.snapshot()
    assert state["slow"]["count"] == bars  # every bar went through its indicators
    assert state["prev"][0] and state["prev"][1]  # ready to see the next cross
