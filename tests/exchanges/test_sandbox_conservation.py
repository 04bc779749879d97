"""Conservation over a few hundred random orders placed by the unmodified ccxt binance client.

Balances at the end equal the deposits plus every trade minus every fee, to the last decimal,
with each fee in the asset Binance charges it in (a buyer's in the base asset received, a
seller's in the quote asset); nothing stays locked once the orders are done; and the fills the
private user data stream reported (ccxt.pro watch_my_trades) are exactly the REST trades.
"""

import asyncio
import random
from collections import defaultdict
from decimal import Decimal

import ccxt
import ccxt.pro as ccxt_pro
import pytest

from exchanges.sandbox.testing import open_account, point_at_sandbox

FUNDS = {"USDT": Decimal("200000"), "BTC": Decimal("3"), "ETH": Decimal("40")}
SYMBOLS = {"BTC/USDT": Decimal("0.001"), "ETH/USDT": Decimal("0.01"), "ETH/BTC": Decimal("0.01")}
ORDERS = 300
HANG_GUARD = 120


@pytest.mark.parametrize("seed", [11, 12])
async def test_balances_are_deposits_plus_trades_minus_fees(sandbox_server, sandbox_url, seed):
    account = open_account(sandbox_server, sandbox_url, {a: str(v) for a, v in FUNDS.items()})
    client = point_at_sandbox(
        ccxt_pro.binance({"apiKey": account.api_key, "secret": account.secret}), sandbox_url
    )
    rng = random.Random(seed)
    streamed: dict[str, dict] = {}
    refused = defaultdict(int)
    try:
        await client.load_markets()
        watcher = asyncio.ensure_future(_collect(client, streamed))
        for _ in range(HANG_GUARD * 50):  # until the stream is subscribed and watched
            if any("myTrades" in c.futures for c in client.clients.values()):
                break
            await asyncio.sleep(0.02)
        for _ in range(ORDERS):
            symbol = rng.choice(list(SYMBOLS))
            try:
                await _random_order(client, rng, symbol)
            except (ccxt.InsufficientFunds, ccxt.InvalidOrder) as exc:
                refused[type(exc).__name__] += 1  # refused orders change nothing
        for symbol in SYMBOLS:
            await client.cancel_all_orders(symbol)
        rest = {}
        for symbol in SYMBOLS:
            for t in await client.fetch_my_trades(symbol, limit=1000):
                rest[f"{symbol}#{t['id']}"] = t
        balance = await client.fetch_balance()
        for _ in range(HANG_GUARD * 10):  # the stream catches up with REST (hang guard)
            if set(streamed) >= set(rest):
                break
            await asyncio.sleep(0.1)
        watcher.cancel()
    finally:
        await client.close()
    assert len(rest) > 100, (len(rest), dict(refused))  # the walk did trade
    expected = dict(FUNDS)
    for t in rest.values():
        info = t["info"]
        base, quote = t["symbol"].split("/")
        qty, cost, fee = (Decimal(info[k]) for k in ("qty", "quoteQty", "commission"))
        sign = 1 if info["isBuyer"] else -1
        expected[base] += sign * qty
        expected[quote] -= sign * cost
        # the fee asset as on Binance: the buyer pays in the base, the seller in the quote
        assert info["commissionAsset"] == (base if info["isBuyer"] else quote), info
        assert fee == (qty if info["isBuyer"] else cost) * Decimal("0.001")
        expected[info["commissionAsset"]] -= fee
    for asset, amount in expected.items():
        line = next(b for b in balance["info"]["balances"] if b["asset"] == asset)
        assert Decimal(line["locked"]) == 0, line
        assert Decimal(line["free"]) == amount, (asset, line, amount)
    # the private stream's fills are the REST trades, field by field
    assert set(streamed) == set(rest)
    for key, t in rest.items():
        s = streamed[key]
        assert (s["order"], s["side"], s["price"], s["amount"], s["takerOrMaker"]) == (
            t["order"],
            t["side"],
            t["price"],
            t["amount"],
            t["takerOrMaker"],
        )
        assert (s["fee"]["cost"], s["fee"]["currency"]) == (t["fee"]["cost"], t["fee"]["currency"])


async def _collect(client, out: dict) -> None:
    while True:
        for t in await client.watch_my_trades():
            out[f"{t['symbol']}#{t['id']}"] = t


async def _random_order(client, rng, symbol):
    step = SYMBOLS[symbol]
    amount = float(step * rng.randint(1, 30))
    side = rng.choice(["buy", "sell"])
    ticker = await client.fetch_ticker(symbol)
    touch = ticker["ask"] if side == "buy" else ticker["bid"]
    away = (1 - rng.uniform(0.0001, 0.002)) if side == "buy" else (1 + rng.uniform(0.0001, 0.002))
    through = 1.002 if side == "buy" else 0.998
    kind = rng.choice(["market", "limit", "marketable", "ioc", "fok", "post", "stop", "cancel"])
    if kind == "market":
        return await client.create_order(symbol, "market", side, amount)
    if kind == "marketable":
        return await client.create_order(symbol, "limit", side, amount, touch * through)
    if kind in ("ioc", "fok"):
        tif = {"timeInForce": kind.upper()}
        return await client.create_order(symbol, "limit", side, amount, touch * through, tif)
    if kind == "post":
        return await client.create_order(
            symbol, "limit", side, amount, touch * away, {"postOnly": True}
        )
    if kind == "stop":  # a stop loss a little beyond the touch: the market may trigger it
        stop = touch * (1.0005 if side == "buy" else 0.9995)
        return await client.create_order(
            symbol, "market", side, amount, None, {"stopLossPrice": stop}
        )
    order = await client.create_order(symbol, "limit", side, amount, touch * away)
    if kind == "cancel":
        try:
            await client.cancel_order(order["id"], symbol)
        except ccxt.OrderNotFound:
            pass  # it filled first
    return order
