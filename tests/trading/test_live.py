"""Live bot pages over a real websocket (uvicorn child process, session auth, Redis layer).

A bot's page socket is refused at the handshake to anyone but the owner; events reach only
the pages of the bot they are about, rendered as hx-swap-oob fragments; a burst of events is
coalesced into fewer pushes without losing or reordering any, an isolated one is one push.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import websockets
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.test import Client

from portfolio.services import bot_performance_record
from tests.conftest import free_port, wait_until
from trading.events import bot_event, bot_event_publish, bot_events_send, events_flush
from trading.models import Bot, BotVenue, Fill, Order


@pytest.fixture
def web(child_processes):
    port = free_port()
    child_processes.start(
        "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--lifespan", "off", "--no-access-log",
    )  # fmt: skip

    def up():
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/schema/", timeout=1):
                return True
        except Exception as exc:  # 4xx/5xx still prove the server answers
            return getattr(exc, "code", None) is not None

    wait_until(up, timeout=60, interval=0.2, what="uvicorn")
    return port


def _bot(user, name):
    bot = Bot.objects.create(
        user=user, name=name, strategy="pure_market_making", symbols=["BTC/USDT"],
        budget=Decimal("1000"), paper_balances={"venue-x": {"USDT": "1000"}}, status="running",
    )  # fmt: skip
    BotVenue.objects.create(bot=bot, exchange=f"venue-{secrets.token_hex(3)}")
    return bot


def _cookie(user, password) -> str:
    client = Client()
    assert client.login(email=user.email, password=password)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _connect(port, path, cookie=None):
    headers = {"Origin": "http://127.0.0.1"}
    if cookie:
        headers["Cookie"] = cookie
    return websockets.connect(f"ws://127.0.0.1:{port}{path}", additional_headers=headers)


async def _next(ws, timeout=10.0) -> str:
    return await asyncio.wait_for(ws.recv(), timeout)


async def _nothing(ws, seconds=1.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


async def _refused(port, path, cookie=None) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with _connect(port, path, cookie):
            pass
    return refused.value.response.status_code


def _status_event(bot, status):
    Bot.objects.filter(pk=bot.pk).update(status=status, status_reason=f"Now {status}.")
    bot.refresh_from_db()
    with transaction.atomic():  # the runtime's own path: published after commit
        bot_event_publish(bot=bot, kind="status", data={"status": status, "reason": "x"})
    events_flush()


def test_only_the_owner_may_open_a_bots_live_page(web, alice, bob, password):
    alice_bot = _bot(alice, "alice-live")
    alice_cookie, bob_cookie = _cookie(alice, password), _cookie(bob, password)

    async def scenario():
        path = f"/ws/bots/{alice_bot.pk}/"
        assert await _refused(web, path, bob_cookie) == 403
        assert await _refused(web, path) == 403
        assert await _refused(web, "/ws/bots/") == 403
        assert await _refused(web, f"/ws/bots/{alice_bot.pk + 1000}/", alice_cookie) == 403
        async with _connect(web, path, alice_cookie):
            pass  # accepted

    async_to_sync(scenario)()


def test_a_session_still_at_the_otp_step_gets_no_live_data(web, alice, password):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    bot = _bot(alice, "alice-otp")
    TOTPDevice.objects.create(user=alice, name="app", confirmed=True)
    cookie = _cookie(alice, password)  # password only: the OTP step is not passed

    async def scenario():
        assert await _refused(web, f"/ws/bots/{bot.pk}/", cookie) == 403
        assert await _refused(web, "/ws/bots/", cookie) == 403

    async_to_sync(scenario)()


def test_events_reach_only_the_page_of_their_bot_as_oob_fragments(web, alice, bob, password):
    alice_bot, bob_bot = _bot(alice, "alice-live"), _bot(bob, "bob-live")
    alice_cookie, bob_cookie = _cookie(alice, password), _cookie(bob, password)

    async def scenario():
        async with (
            _connect(web, f"/ws/bots/{alice_bot.pk}/", alice_cookie) as alice_ws,
            _connect(web, f"/ws/bots/{bob_bot.pk}/", bob_cookie) as bob_ws,
        ):
            await asyncio.sleep(0.3)  # both joined their groups
            await asyncio.to_thread(_status_event, alice_bot, "paused")
            html = await _next(alice_ws)
            assert 'id="bot-status" hx-swap-oob="true"' in html and "Paused" in html
            assert 'id="bot-controls" hx-swap-oob="true"' in html and "Resume" in html
            assert 'id="bot-events" hx-swap-oob="true"' in html
            await _nothing(bob_ws)

            await asyncio.to_thread(_book_fill, bob_bot)
            html = await _next(bob_ws)
            assert 'id="fills" hx-swap-oob="true"' in html and "BOB-TRADE-1" in html
            assert 'id="bot-pnl" hx-swap-oob="true"' in html
            await _nothing(alice_ws)

    async_to_sync(scenario)()


def test_a_performance_snapshot_redraws_the_equity_curve_of_its_owners_page_only(
    web, alice, bob, password
):
    alice_bot, bob_bot = _bot(alice, "alice-equity"), _bot(bob, "bob-equity")
    alice_cookie, bob_cookie = _cookie(alice, password), _cookie(bob, password)
    now = datetime.now(UTC)
    bot_performance_record(bots=[alice_bot], at=now - timedelta(minutes=1))

    async def scenario():
        async with (
            _connect(web, f"/ws/bots/{alice_bot.pk}/", alice_cookie) as alice_ws,
            _connect(web, f"/ws/bots/{bob_bot.pk}/", bob_cookie) as bob_ws,
            _connect(web, "/ws/events/", bob_cookie) as bob_events,
        ):
            await asyncio.sleep(0.3)
            await asyncio.to_thread(_snapshot, alice_bot, now)
            html = await _next(alice_ws)
            assert 'id="equity-curve" hx-swap-oob="true"' in html and "<polyline" in html
            assert 'id="bot-status"' not in html  # only the section the event touched
            await _nothing(bob_ws)
            await _nothing(bob_events, seconds=0.5)

    async_to_sync(scenario)()


def _snapshot(bot, at):
    assert bot_performance_record(bots=[bot], at=at) == 1  # commits, then sends
    events_flush()


def _book_fill(bot):
    order = Order.objects.create(
        bot=bot, user=bot.user, mode="paper", exchange=bot.venues.first().exchange,
        symbol="BTC/USDT", client_order_id=f"pg{bot.pk}-f1", side="buy", type="limit",
        price=Decimal("100"), qty=Decimal("1"), filled_qty=Decimal("1"), status="filled",
    )  # fmt: skip
    fill = Fill.objects.create(
        bot=bot, order=order, user=bot.user, mode="paper", exchange=order.exchange,
        account_key=f"paper-{bot.pk}", symbol="BTC/USDT", trade_id="BOB-TRADE-1", side="buy",
        price=Decimal("100"), qty=Decimal("1"), executed_at=datetime.now(UTC), source="paper",
    )  # fmt: skip
    with transaction.atomic():
        bot_event_publish(bot=bot, kind="fill", data={"trade_id": fill.trade_id})
    events_flush()


def test_bot_list_updates_rows_of_own_bots_only(web, alice, bob, password):
    alice_bot, bob_bot = _bot(alice, "alice-row"), _bot(bob, "bob-row")
    alice_cookie, bob_cookie = _cookie(alice, password), _cookie(bob, password)

    async def scenario():
        async with (
            _connect(web, "/ws/bots/", alice_cookie) as alice_ws,
            _connect(web, "/ws/bots/", bob_cookie) as bob_ws,
        ):
            await asyncio.sleep(0.3)
            await asyncio.to_thread(_status_event, alice_bot, "stopped")
            html = await _next(alice_ws)
            assert f'<tr id="bot-row-{alice_bot.pk}" hx-swap-oob="true">' in html
            assert "alice-row" in html and "Stopped" in html
            await _nothing(bob_ws)

            # an event naming bob's bot pushed into alice's group renders nothing of bob's
            layer = get_channel_layer()
            await layer.group_send(
                f"user.{alice.pk}",
                {"type": "event.forward", "event": {"kind": "status", "bot_id": bob_bot.pk}},
            )
            await _nothing(alice_ws)

    async_to_sync(scenario)()


def _burst_fills(bot, numbers) -> None:
    """Book one fill per number and send its event at once, as a busy runtime does."""
    exchange = bot.venues.first().exchange
    for n in numbers:
        order = Order.objects.create(
            bot=bot, user=bot.user, mode="paper", exchange=exchange, symbol="BTC/USDT",
            client_order_id=f"pg{bot.pk}-burst{n}", side="buy", type="market",
            qty=Decimal("0.01"), filled_qty=Decimal("0.01"), status="filled",
        )  # fmt: skip
        Fill.objects.create(
            bot=bot, order=order, user=bot.user, mode="paper", exchange=exchange,
            account_key=f"paper-{bot.pk}", symbol="BTC/USDT", trade_id=f"BURST-{n:03d}",
            side="buy", price=Decimal("100"), qty=Decimal("0.01"),
            executed_at=datetime.now(UTC), source="paper",
        )  # fmt: skip
        bot_events_send(
            bot_id=bot.pk, user_id=bot.user_id,
            events=[bot_event(bot_id=bot.pk, kind="fill", data={"trade_id": f"BURST-{n:03d}"})],
        )  # fmt: skip
    events_flush()


def _trade_numbers(html) -> list[int]:
    """The burst's fills a push shows, in the page's order (newest first)."""
    return [int(n) for n in re.findall(r"BURST-(\d{3})", html)]


def test_a_burst_of_fills_reaches_the_bot_page_complete_and_in_order_in_fewer_pushes(
    web, alice, password
):
    """Coalescing loses nothing: every push shows the fills booked so far, newest first with
    none skipped, the last ones all of them; an isolated fill afterwards is one push."""
    bot = _bot(alice, "alice-burst")
    cookie = _cookie(alice, password)
    count = 25

    async def scenario():
        async with _connect(web, f"/ws/bots/{bot.pk}/", cookie) as ws:
            await asyncio.sleep(0.3)
            sending = asyncio.ensure_future(
                asyncio.to_thread(_burst_fills, bot, range(1, count + 1))
            )
            pushes = []
            while not pushes or _trade_numbers(pushes[-1]) != list(range(count, 0, -1)):
                pushes.append(await _next(ws))
                assert len(pushes) <= count, "more pushes than events"
            await sending
            while True:  # events that came during the last render push once more
                try:
                    pushes.append(await asyncio.wait_for(ws.recv(), 1.5))
                except TimeoutError:
                    break

            shown = [_trade_numbers(html) for html in pushes]
            for numbers in shown:  # a prefix of the burst, in order, none missing
                assert numbers == list(range(len(numbers), 0, -1))
            assert [len(n) for n in shown] == sorted(len(n) for n in shown)
            assert shown[-1] == list(range(count, 0, -1))
            assert len(pushes) < count

        # an isolated fill, on a page opened after the burst (nothing of it can trail in)
        async with _connect(web, f"/ws/bots/{bot.pk}/", cookie) as ws:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(_burst_fills, bot, [count + 1])
            html = await _next(ws)
            assert 'id="fills" hx-swap-oob="true"' in html
            assert _trade_numbers(html) == list(range(count + 1, 0, -1))
            await _nothing(ws)  # one event, one push

    async_to_sync(scenario)()


def _burst_statuses(bots) -> None:
    """One status change per bot, each event sent as soon as it is written."""
    for bot in bots:
        Bot.objects.filter(pk=bot.pk).update(status="paused", status_reason=f"burst {bot.name}")
        bot_events_send(
            bot_id=bot.pk, user_id=bot.user_id,
            events=[bot_event(bot_id=bot.pk, kind="status", data={"status": "paused"})],
        )  # fmt: skip
    events_flush()


def test_a_burst_of_status_changes_redraws_every_row_of_the_bot_list_in_fewer_pushes(
    web, alice, password
):
    bots = [_bot(alice, f"row-{i:02d}") for i in range(12)]
    cookie = _cookie(alice, password)
    row = re.compile(r'<tr id="bot-row-(\d+)" hx-swap-oob="true">')

    async def scenario():
        async with _connect(web, "/ws/bots/", cookie) as ws:
            await asyncio.sleep(0.3)
            sending = asyncio.ensure_future(asyncio.to_thread(_burst_statuses, bots))
            pushes, first_seen, paused = 0, [], set()
            while len(paused) < len(bots):
                html = await _next(ws)
                pushes += 1
                for chunk in html.split('<tr id="bot-row-')[1:]:
                    bot_id = int(row.match('<tr id="bot-row-' + chunk).group(1))
                    if bot_id not in first_seen:
                        first_seen.append(bot_id)
                    if "Paused" in chunk and "burst row-" in chunk:
                        paused.add(bot_id)
            await sending
            await _nothing(ws)
            assert first_seen == [bot.pk for bot in bots]  # the order the bots changed in
            assert paused == {bot.pk for bot in bots}
            assert pushes < len(bots)

            await asyncio.to_thread(_status_event, bots[0], "stopped")
            html = await _next(ws)
            assert row.findall(html) == [str(bots[0].pk)] and "Stopped" in html
            await _nothing(ws)

    async_to_sync(scenario)()
