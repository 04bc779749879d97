"""The arbitrage tracker page and its socket: the worker's latest scan for the size asked,
signed-in users only, a bad size refused saying why, a new scan pushed without a reload."""

from __future__ import annotations

import secrets
from decimal import Decimal as D

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from config.routing import websocket_urlpatterns
from marketdata.models import ArbitrageSighting
from marketdata.services.arbitrage import SIZES_KEY, arbitrage_scan
from tests.trading.conftest import market  # noqa: F401

URL = reverse("marketdata:arbitrage-list")


@pytest.fixture
def venues(market):  # noqa: F811
    """Two venues of this test's own with a 100 bp spread on BTC/USDT (fees assumed 0.1%)."""
    run = secrets.token_hex(3)
    a, b = f"arp{run}a", f"arp{run}b"
    market.book(a, "BTC/USDT", "99.9", "100", size="5")
    market.book(b, "BTC/USDT", "101", "101.1", size="5")
    yield a, b
    market.clear(a, "BTC/USDT")
    market.clear(b, "BTC/USDT")
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(*[f"marketdata:venue-costs:{v}" for v in (a, b)], SIZES_KEY)


def scan(venues, size="1000"):
    a, b = venues
    return arbitrage_scan(markets={a: ["BTC/USDT"], b: ["BTC/USDT"]}, sizes=[D(size)])


@pytest.mark.django_db
def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_a_signed_in_user_sees_the_latest_scan_for_the_size(alice_client, bob_client, venues):
    a, b = venues
    (row,) = scan(venues, "1000")
    # 1000 USDT at the best ask of 100 is 10 BTC: 5 at 100 and 5 at 100.1 (the book's second
    # level), sold for 5 at 101 and 5 at 100.9: 100.95*0.999 / (100.05*1.001) - 1 = 69.80 bp
    assert row.qty == 10
    assert row.net_bp.quantize(D("0.01")) == D("69.80")
    for client in (alice_client, bob_client):  # market data has no owner: every user sees it
        response = client.get(URL, {"size": "1000"})
        assert response.status_code == 200
        html = response.content.decode()
        assert f'data-buy="{a}" data-sell="{b}"' in html
        assert "69.80" in html
        assert 'ws-connect="/ws/arbitrage/1000/"' in html
        assert "Open for" in html
    nav = alice_client.get(reverse("marketdata:market-list")).content.decode()
    assert f'href="{URL}"' in nav


@pytest.mark.django_db
def test_a_size_not_scanned_yet_is_asked_for_and_said_so(alice_client, venues):
    scan(venues, "1000")
    response = alice_client.get(URL, {"size": "250"})
    assert response.status_code == 200
    assert "No scan for 250.00 USDT yet" in response.content.decode()
    assert redis.Redis.from_url(settings.REDIS_URL).zscore(SIZES_KEY, "250") is not None


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["lots", "-1", "0.001", "1e9"])
def test_a_bad_size_is_refused_with_a_clear_error_and_changes_nothing(alice_client, size):
    redis.Redis.from_url(settings.REDIS_URL).delete(SIZES_KEY)
    response = alice_client.get(URL, {"size": size})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "Size must" in html
    assert not redis.Redis.from_url(settings.REDIS_URL).exists(SIZES_KEY)


def communicator(user, path):
    ws = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    ws.scope["user"] = user
    ws.scope["session"] = {}
    return ws


@pytest.mark.django_db(transaction=True)
def test_the_socket_pushes_the_board_after_each_scan(alice, venues):
    a, b = venues

    async def scenario():
        ws = communicator(alice, "/ws/arbitrage/1000/")
        connected, _ = await ws.connect()
        assert connected
        from channels.db import database_sync_to_async

        await database_sync_to_async(scan)(venues, "1000")
        html = await ws.receive_from(timeout=10)
        assert 'id="arbitrage-board" hx-swap-oob="true"' in html
        assert f'data-buy="{a}" data-sell="{b}"' in html
        await ws.disconnect()

    async_to_sync(scenario)()
    assert ArbitrageSighting.objects.filter(size=1000).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/arbitrage/1000/", "/ws/arbitrage/nonsense/"])
def test_the_socket_refuses_anonymous_and_bad_sizes(alice, path):
    async def scenario():
        user = AnonymousUser() if path.endswith("1000/") else alice
        ws = communicator(user, path)
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_the_socket_refuses_a_session_short_of_the_otp_step(alice, alice_totp):
    async def scenario():
        ws = communicator(alice, "/ws/arbitrage/1000/")  # no verified device in the session
        connected, _ = await ws.connect()
        assert not connected

    async_to_sync(scenario)()
