"""A collector's slice starts by filling in the recent history, so signal bots warm up at once."""

import time

import pytest

from marketdata.models import Candle
from marketdata.services.candles import dt_to_ms
from marketdata.tasks import history_catch_up
from tests.conftest import current_minute_ms

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_last_bars_are_filled_in_once_and_the_gaps_only(sandbox_url, settings):
    settings.PEREGRINE_SANDBOX_URL = sandbox_url
    current_minute_ms()  # away from a minute's edge
    left = history_catch_up("sandbox", ["BTC/USDT", "ETH/USDT"], 120)
    assert left == {"BTC/USDT": 0, "ETH/USDT": 0}
    bars = Candle.objects.filter(exchange="sandbox", symbol="BTC/USDT", timeframe="1m")
    assert bars.count() == 120
    now = int(time.time() * 1000)
    assert dt_to_ms(bars.order_by("-ts").first().ts) == now - now % 60_000 - 60_000
    assert Candle.objects.filter(exchange="sandbox", symbol="BTC/USDT", timeframe="5m").exists()
    # a hole in the stored history is fetched again, nothing else is
    middle = bars.order_by("ts")[50]
    Candle.objects.filter(pk=middle.pk).delete()
    assert history_catch_up("sandbox", ["BTC/USDT"], 120) == {"BTC/USDT": 0}
    assert bars.count() == 120


def test_a_market_the_exchange_does_not_have_is_skipped_and_the_others_filled(
    sandbox_url, settings
):
    settings.PEREGRINE_SANDBOX_URL = sandbox_url
    current_minute_ms()  # away from a minute's edge
    left = history_catch_up("sandbox", ["NOPE/USDT", "BTC/USDT"], 30)
    assert left == {"BTC/USDT": 0}
    assert Candle.objects.filter(symbol="BTC/USDT", timeframe="1m").count() == 30
    assert not Candle.objects.filter(symbol="NOPE/USDT").exists()
