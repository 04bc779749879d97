"""Hand-built fills, accounts and candles for the tax tests (written straight to the books)."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from decimal import Decimal

_ids = itertools.count(1)


def account(user, label: str = "Main", exchange: str = "sandbox"):
    from exchanges.models import ExchangeAccount

    return ExchangeAccount.objects.create(
        user=user, exchange=exchange, label=label, mode="live", api_key_ciphertext="-",
        secret_ciphertext="-",
    )  # fmt: skip


def bot(user, mode: str = "live", name: str | None = None):
    from trading.models import Bot

    return Bot.objects.create(
        user=user, name=name or f"bot-{uuid.uuid4().hex[:6]}", strategy="pure_market_making",
        symbols=["BTC/USDT"], budget=Decimal("10000"), mode=mode, status="running",
    )  # fmt: skip


def fill(the_bot, at: datetime, side: str, qty: str, price: str, *, fee: str = "0",
         fee_asset: str = "USDT", symbol: str = "BTC/USDT", acct=None, trade_id=None):  # fmt: skip
    from trading.models import Fill, Order

    n = next(_ids)
    order = Order.objects.create(
        bot=the_bot, user=the_bot.user, mode=the_bot.mode, exchange="sandbox", symbol=symbol,
        exchange_account=acct, client_order_id=f"tax-{uuid.uuid4().hex[:12]}", side=side,
        type="market", qty=Decimal(qty), filled_qty=Decimal(qty), status="filled",
    )  # fmt: skip
    return Fill.objects.create(
        bot=the_bot, order=order, user=the_bot.user, mode=the_bot.mode, exchange="sandbox",
        exchange_account=acct, account_key=str(acct.pk) if acct else f"paper-{the_bot.pk}",
        symbol=symbol, trade_id=trade_id or f"tax{n}", side=side, price=Decimal(price),
        qty=Decimal(qty), fee=Decimal(fee), fee_asset=fee_asset, executed_at=at,
        source="paper" if the_bot.mode == "paper" else "poll",
    )  # fmt: skip


def candle(symbol: str, at: datetime, close: str, exchange: str = "binance"):
    from marketdata.models import Candle

    price = Decimal(close)
    return Candle.objects.create(
        exchange=exchange, symbol=symbol, timeframe="1m", ts=at, open=price, high=price,
        low=price, close=price, volume=Decimal(1),
    )  # fmt: skip
