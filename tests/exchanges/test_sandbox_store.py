"""Sandbox users, keys and deposits from the database reach a running sandbox server."""

import ccxt
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exchanges.gateway.clients import sync_client
from exchanges.sandbox.market import ReplayFeed, read_candle_csv
from exchanges.sandbox.models import SandboxApiKey
from exchanges.sandbox.store import DatabaseSync
from exchanges.sandbox.testing import start_sandbox
from marketdata.testing import data_file


@pytest.mark.django_db(transaction=True)
def test_commands_create_a_user_whose_key_and_funds_work_on_the_server(capsys):
    call_command("sandbox_user", "carol")
    out = capsys.readouterr().out
    api_key = out.split("api key:")[1].split()[0]
    secret = out.split("secret:")[1].split()[0]
    call_command("sandbox_fund", "carol", "usdt", "1500")
    call_command("sandbox_fund", "carol", "BTC", "0.5", "--venue", "sandbox-b")
    with pytest.raises(CommandError):
        call_command("sandbox_fund", "nobody", "USDT", "1")
    with pytest.raises(CommandError):
        call_command("sandbox_fund", "carol", "USDT", "-3")
    server, url = start_sandbox(history_bars=10)
    try:
        sync = DatabaseSync(server)
        keys, deposits = sync._read()
        server.call(sync.apply, keys, deposits)
        a = sync_client("sandbox", api_key=api_key, secret=secret, sandbox_url=url)
        b = sync_client("sandbox-b", api_key=api_key, secret=secret, sandbox_url=url)
        assert a.fetch_balance()["USDT"]["free"] == 1500
        assert "BTC" not in a.fetch_balance()["total"]
        assert b.fetch_balance()["BTC"]["free"] == 0.5
        order = a.create_order("BTC/USDT", "market", "buy", 0.001)
        assert order["status"] == "closed"
        # a deposit made while the server runs is applied by the next sync, once
        call_command("sandbox_fund", "carol", "USDT", "100", "--venue", "sandbox")
        for _ in range(2):
            keys, deposits = sync._read()
            server.call(sync.apply, keys, deposits)
        # the buyer's fee is charged in the base asset received, as on Binance
        assert a.fetch_balance()["USDT"]["total"] == pytest.approx(1600 - order["cost"])
        assert a.fetch_balance()["BTC"]["total"] == pytest.approx(0.001 * 0.999)
        SandboxApiKey.objects.filter(api_key=api_key).delete()
        keys, deposits = sync._read()
        server.call(sync.apply, keys, deposits)
        # (a client that has authenticated before reads -2015 as a temporary ban: use a new one)
        fresh = sync_client("sandbox", api_key=api_key, secret=secret, sandbox_url=url)
        with pytest.raises(ccxt.AuthenticationError):
            fresh.fetch_balance()
    finally:
        server.stop_thread()


def test_replay_of_real_candles_moves_the_market_along_the_file():
    candles = read_candle_csv(data_file("binance_BTC-USDT_1m.csv.gz"))[:200]
    server, url = start_sandbox(
        replay={"BTC/USDT": candles}, speed=600, history_bars=100, venues=["sandbox"]
    )
    try:
        client = sync_client("sandbox", sandbox_url=url)
        bars = [b[1:5] for b in client.fetch_ohlcv("BTC/USDT", "1m", limit=103)]
        first = bars.index(list(candles[0][1:5]))  # the live bar(s) follow the history
        assert bars[first : first + 100] == [list(c[1:5]) for c in candles[:100]]
        last = client.fetch_ticker("BTC/USDT")["last"]
        lows = min(c[3] for c in candles[100:200])
        highs = max(c[2] for c in candles[100:200])
        assert lows <= last <= highs  # live prices follow the file's next bars
    finally:
        server.stop_thread()


def test_replay_feed_walks_each_bar_open_extremes_close():
    feed = ReplayFeed([(0, 10.0, 12.0, 9.0, 11.0, 4.0)], speed=60)
    prices = [feed.step(i, 0.25).price for i in range(4)]
    assert prices == [9.0, 12.0, 11.0, 10.0]  # open->low->high->close, then the bar repeats


def test_minutes_without_a_trade_get_flat_bars_so_the_history_has_no_holes():
    from exchanges.sandbox.venue import MINUTE_MS, Venue
    from tradecore.clock import SimulatedClock

    start = 1_700_000_000_000 // MINUTE_MS * MINUTE_MS + 59_500  # seeded near a minute's end
    clock = SimulatedClock(start)
    venue = Venue("sandbox", clock=clock, history_bars=5)
    state = venue.symbols["BTC/USDT"]
    seeded_close = state.bars[max(state.bars)][3]
    clock.set(start + 2 * MINUTE_MS)  # the first tick comes two minutes on
    venue.step(clock.now_ms(), 0.05)
    keys = sorted(state.bars)
    assert keys == list(range(keys[0], keys[-1] + MINUTE_MS, MINUTE_MS))
    assert len(keys) == 5 + 3  # the seeding minute and the next were quiet
    for quiet in (state.bars[keys[-3]], state.bars[keys[-2]]):
        assert quiet[:4] == [seeded_close] * 4 and quiet[4] == 0 and quiet[6] == 0
