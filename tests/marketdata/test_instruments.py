"""Instruments from the sandbox's load_markets, with exact precision and limits."""

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command

from marketdata.models import Instrument
from marketdata.services.instruments import instrument_load, instrument_sync

pytestmark = pytest.mark.django_db


def test_instruments_come_from_load_markets(sandbox_url):
    Instrument.objects.create(exchange="sandbox", symbol="OLD/USDT", base="OLD", quote="USDT")
    markets = async_to_sync(instrument_load)(exchange="sandbox", sandbox_url=sandbox_url)
    assert instrument_sync(exchange="sandbox", markets=markets) == 3
    btc = Instrument.objects.get(exchange="sandbox", symbol="BTC/USDT")
    assert (btc.price_step, btc.amount_step) == (Decimal("0.01"), Decimal("0.00001"))
    assert (btc.min_amount, btc.min_cost) == (Decimal("0.0001"), Decimal("5"))
    assert not Instrument.objects.get(symbol="OLD/USDT").active


def test_sync_instruments_command(sandbox_url, settings):
    settings.PEREGRINE_SANDBOX_URL = sandbox_url
    call_command("sync_instruments", "sandbox-b")
    assert Instrument.objects.filter(exchange="sandbox-b", active=True).count() == 3
