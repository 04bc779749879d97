"""The trading panel's live socket and the watcher of orders placed by hand.

Over a real websocket (uvicorn child process, session auth, Redis layer, this run's sandbox):
only the account's owner may open the panel's socket; an order placed, filled or cancelled by
hand pushes the panel's state section to the owner's panel and nobody else's; the worker's
watcher books a resting order's fill on the exchange, which pushes it too.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from decimal import Decimal

import pytest
import websockets
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.conftest import free_port, wait_until
from tests.trading.conftest import VENUE_A, VENUE_B
from tests.trading.test_manual import _sell_through
from trading.events import bot_event, bot_events_send, events_flush
from trading.models import Bot, BotVenue, Fill, Order
from trading.services import manual

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def web(child_processes, sandbox_url):
    """The ASGI app under uvicorn, told where this run's sandbox venues are."""
    port = free_port()
    child_processes.start(
        "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--lifespan", "off", "--no-access-log",
        env={"PEREGRINE_SANDBOX_URL": sandbox_url,
             "PEREGRINE_SANDBOX_VENUES": ",".join(["sandbox", "sandbox-b", VENUE_A, VENUE_B])},
    )  # fmt: skip

    def up():
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return True
        except Exception as exc:  # 4xx/5xx still prove the server answers
            return getattr(exc, "code", None) is not None

    wait_until(up, timeout=60, interval=0.2, what="uvicorn")
    return port


def _cookie(user, password) -> str:
    client = Client()
    assert client.login(email=user.email, password=password)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _connect(port, path, cookie=None):
    headers = {"Origin": "http://127.0.0.1"}
    if cookie:
        headers["Cookie"] = cookie
    return websockets.connect(f"ws://127.0.0.1:{port}{path}", additional_headers=headers)


async def _refused(port, path, cookie=None) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with _connect(port, path, cookie):
            pass
    return refused.value.response.status_code


async def _state(ws, timeout=20.0) -> str:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert message["kind"] == "trade_state"
    assert message["html"].startswith('<div id="trade-state"')
    return message["html"]


async def _settled(ws, html: str, seconds=1.5) -> str:
    """The last state pushed once the pushes stop (each write of the books pushes one)."""
    while True:
        try:
            html = await asyncio.wait_for(_state(ws), seconds)
        except TimeoutError:
            return html


async def _nothing(ws, seconds=1.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


def _path(account) -> str:
    return f"/ws/exchanges/accounts/{account.pk}/trade/"


def _resting_buy(user, account, sandbox, fraction="0.97"):
    book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
    price = (book.best_bid()[0] * Decimal(fraction)).quantize(Decimal("0.01"))
    return manual.manual_order_place(
        user=user, account=account, symbol="BTC/USDT", side="buy", type="limit",
        qty="0.01", price=str(price),
    )  # fmt: skip


def test_only_the_owner_may_open_the_panels_socket(web, alice, bob, password, live_account):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    account = live_account(alice)
    alice_cookie, bob_cookie = _cookie(alice, password), _cookie(bob, password)
    path = _path(account)

    async def scenario():
        assert await _refused(web, path, bob_cookie) == 403
        assert await _refused(web, path) == 403
        unknown = path.replace(str(account.pk), "00000000-0000-0000-0000-000000000000")
        assert await _refused(web, unknown, alice_cookie) == 403
        async with _connect(web, path, alice_cookie):
            pass  # accepted

    async_to_sync(scenario)()
    TOTPDevice.objects.create(user=alice, name="app", confirmed=True)
    otp_step = _cookie(alice, password)  # password only: the OTP step is not passed
    assert async_to_sync(_refused)(web, path, otp_step) == 403


def test_orders_by_hand_push_the_state_section_to_their_owners_panel_only(
    web, alice, bob, password, live_account, sandbox
):
    account, bobs = live_account(alice), live_account(bob)
    other = Bot.objects.create(
        user=alice, name="another bot", strategy="pure_market_making", symbols=["BTC/USDT"],
        budget=Decimal("1000"), paper_balances={"venue-x": {"USDT": "1000"}}, status="running",
    )  # fmt: skip
    BotVenue.objects.create(bot=other, exchange=f"venue-{secrets.token_hex(3)}")
    alice_cookie, bob_cookie = _cookie(alice, password), _cookie(bob, password)
    client = Client()
    client.force_login(alice)

    async def scenario():
        async with (
            _connect(web, _path(account), alice_cookie) as alice_ws,
            _connect(web, _path(bobs), bob_cookie) as bob_ws,
        ):
            await asyncio.sleep(0.3)  # both joined their groups
            # the account's first order by hand: its manual bot is created after the connect
            order = await asyncio.to_thread(_resting_buy, alice, account, sandbox)
            html = await _settled(alice_ws, await _state(alice_ws))
            assert f'data-client-order-id="{order.client_order_id}"' in html
            assert 'data-asset="USDT"' in html  # balances from the exchange
            # the order reached the books with the cancel's own form (htmx), no CSRF token in it
            assert reverse("exchanges:account-trade-cancel", args=[account.pk, order.pk]) in html
            await _nothing(bob_ws)

            # an event of another of alice's bots is not about this panel
            event = bot_event(bot_id=other.pk, kind="fill", data={"fills": []})
            await asyncio.to_thread(
                lambda: (
                    bot_events_send(bot_id=other.pk, user_id=alice.pk, events=[event]),
                    events_flush(),
                )  # fmt: skip
            )
            await _nothing(alice_ws)

            # cancelled elsewhere (the API's path): the panel shows it gone
            url = reverse("exchanges-api-account-order-cancel", args=[account.pk, order.pk])
            response = await asyncio.to_thread(client.post, url)
            assert response.status_code == 200, response.content
            html = await _state(alice_ws)
            while order.client_order_id in html:  # a push per write: the last one is current
                html = await _state(alice_ws)
            assert "No open order placed by hand." in html
            await _nothing(bob_ws)

    async_to_sync(scenario)()


def test_the_watcher_books_a_resting_orders_fill_on_the_exchange_and_the_panel_shows_it(
    web, alice, password, live_account, sandbox
):
    account = live_account(alice)
    cookie = _cookie(alice, password)
    sandbox[0].paused = True  # the market stands still: our bid stays the best one
    try:
        sandbox[0].call(lambda: None)
        book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
        mid = ((book.best_bid()[0] + book.best_ask()[0]) / 2).quantize(Decimal("0.01"))
        order = manual.manual_order_place(
            user=alice, account=account, symbol="BTC/USDT", side="buy", type="limit",
            qty="0.01", price=str(mid),
        )  # fmt: skip
        assert order.status == Order.Status.OPEN
        # placing it asked for a watcher: nobody has claimed it yet (no worker here)
        assert cache.get(f"manual-watch:{order.bot_id}") is None
        _sell_through(sandbox, mid)
    finally:
        sandbox[0].paused = False

    async def scenario():
        async with _connect(web, _path(account), cookie) as ws:
            await asyncio.sleep(0.3)
            outcome = await asyncio.to_thread(manual.manual_watch_run, bot_id=order.bot_id)
            assert outcome == "nothing working"
            fill = await asyncio.to_thread(Fill.objects.get, order=order)
            html = await _state(ws)
            while (
                f'data-trade-id="{fill.trade_id}"' not in html
                or order.client_order_id in (html.split('id="trade-fills"')[0])
            ):
                html = await _state(ws)

    async_to_sync(scenario)()
    assert Order.objects.get(pk=order.pk).status == Order.Status.FILLED
    assert cache.get(f"manual-watch:{order.bot_id}") is None  # released: the next order's
