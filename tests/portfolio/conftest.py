"""Hand-built bots, orders and fills (written straight to the books), and marks in Redis.

Every test uses its own venue names, so marks it publishes never meet another test's.
"""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis
from django.conf import settings

_trade_ids = itertools.count(1)


@pytest.fixture
def venue():
    return f"venue-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def venue_b():
    return f"venue-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_bot(db):
    from trading.models import Bot, BotVenue

    def make(user, *, venues, symbols=("BTC/USDT",), funds=None, name=None, status="running"):
        bot = Bot.objects.create(
            user=user,
            name=name or f"bot-{uuid.uuid4().hex[:6]}",
            strategy="pure_market_making",
            symbols=list(symbols),
            budget=Decimal("10000"),
            paper_balances=funds or {venues[0]: {"USDT": "10000"}},
            status=status,
        )
        for position, exchange in enumerate(venues):
            BotVenue.objects.create(bot=bot, exchange=exchange, position=position)
        return bot

    return make


@pytest.fixture
def add_fill(db):
    from trading.models import Fill, Order

    start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def add(
        bot,
        side,
        qty,
        price,
        *,
        exchange=None,
        fee="0",
        fee_asset="USDT",
        minute=None,
        symbol="BTC/USDT",
        status="filled",
    ):
        exchange = exchange or bot.venues.first().exchange
        n = next(_trade_ids)
        order = Order.objects.create(
            bot=bot,
            user=bot.user,
            mode=bot.mode,
            exchange=exchange,
            symbol=symbol,
            client_order_id=f"pg{bot.pk}-t{n}-{uuid.uuid4().hex[:6]}",
            side=side,
            type="limit",
            price=Decimal(price),
            qty=Decimal(qty),
            filled_qty=Decimal(qty),
            status=status,
        )
        return Fill.objects.create(
            bot=bot,
            order=order,
            user=bot.user,
            mode=bot.mode,
            exchange=exchange,
            account_key=f"paper-{bot.pk}",
            symbol=symbol,
            trade_id=f"t{n}",
            side=side,
            price=Decimal(price),
            qty=Decimal(qty),
            fee=Decimal(fee),
            fee_asset=fee_asset,
            executed_at=start + timedelta(minutes=n if minute is None else minute),
            source="paper",
        )

    return add


@pytest.fixture
def publish_mark():
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = []

    def publish(exchange, symbol, *, bid=None, ask=None, last=None):
        key = f"market:{exchange}:{symbol}:ticker"
        keys.append(key)
        client.set(key, json.dumps({"bid": bid, "ask": ask, "last": last}), ex=300)

    yield publish
    if keys:
        client.delete(*keys)
