"""The sandbox exchange driven by the unmodified ccxt binance client (sync and asyncio)."""

import hashlib
import hmac
import time
from decimal import Decimal

import ccxt
import pytest
import requests

from exchanges.gateway.clients import async_client, sync_client
from exchanges.sandbox.testing import open_account, start_sandbox


@pytest.fixture
def client(sandbox_account):
    return sync_client(
        "sandbox",
        api_key=sandbox_account.api_key,
        secret=sandbox_account.secret,
        sandbox_url=sandbox_account.base_url,
    )


def test_load_markets_reads_precision_and_limits(client):
    markets = client.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "ETH/BTC"} <= set(markets)
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["active"]
    assert btc["precision"]["price"] == 0.01
    assert btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["amount"]["min"] == 0.0001
    assert btc["limits"]["cost"]["min"] == 5


def test_public_market_data_is_consistent(client):
    book = client.fetch_order_book("BTC/USDT", 10)
    assert len(book["bids"]) == 10 and len(book["asks"]) == 10
    assert book["bids"][0][0] < book["asks"][0][0]
    ticker = client.fetch_ticker("BTC/USDT")
    assert ticker["bid"] < ticker["ask"] and ticker["last"] > 0 and ticker["quoteVolume"] > 0
    bars = client.fetch_ohlcv("BTC/USDT", "5m", limit=20)
    assert len(bars) == 20
    assert all(
        b[0] % 300_000 == 0 and b[2] >= max(b[1], b[4]) and b[3] <= min(b[1], b[4]) for b in bars
    )
    trades = client.fetch_trades("BTC/USDT", limit=5)
    assert trades and all(t["price"] > 0 for t in trades)
    assert abs(client.fetch_time() - time.time() * 1000) < 5000


def test_venues_quote_with_their_offset(sandbox_account):
    a = sync_client("sandbox", sandbox_url=sandbox_account.base_url)
    b = sync_client("sandbox-b", sandbox_url=sandbox_account.base_url)
    ratio = b.fetch_ticker("BTC/USDT")["last"] / a.fetch_ticker("BTC/USDT")["last"]
    assert 1.0005 < ratio < 1.0015  # sandbox-b trades 10 bp richer, plus a little noise


def test_market_buy_fills_and_moves_balances(client):
    before = client.fetch_balance()
    order = client.create_order(
        "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "peregrine-mkt-1"}
    )
    assert order["status"] == "closed" and order["filled"] == 0.01
    assert order["clientOrderId"] == "peregrine-mkt-1"
    after = client.fetch_balance()
    # Binance charges a buyer's 0.1% taker fee in the base asset received
    assert after["BTC"]["total"] == pytest.approx(before["BTC"]["total"] + 0.01 * 0.999)
    spent = before["USDT"]["total"] - after["USDT"]["total"]
    assert spent == pytest.approx(order["cost"], rel=1e-9)
    trades = client.fetch_my_trades("BTC/USDT")
    assert any(t["order"] == order["id"] for t in trades)
    mine = [t for t in trades if t["order"] == order["id"]]
    assert sum(t["amount"] for t in mine) == pytest.approx(0.01)
    assert mine[0]["fee"]["currency"] == "BTC"


def test_limit_order_rests_then_cancels(client):
    price = client.fetch_ticker("BTC/USDT")["bid"] * 0.8
    order = client.create_order("BTC/USDT", "limit", "buy", 0.01, price)
    assert order["status"] == "open"
    balance = client.fetch_balance()
    assert balance["USDT"]["used"] > 0
    assert [o["id"] for o in client.fetch_open_orders("BTC/USDT")] == [order["id"]]
    fetched = client.fetch_order(order["id"], "BTC/USDT")
    assert fetched["status"] == "open" and fetched["price"] == pytest.approx(round(price, 2))
    by_client_id = client.fetch_order(
        None, "BTC/USDT", params={"origClientOrderId": order["clientOrderId"]}
    )
    assert by_client_id["id"] == order["id"]
    cancelled = client.cancel_order(order["id"], "BTC/USDT")
    assert cancelled["status"] == "canceled"
    assert client.fetch_open_orders("BTC/USDT") == []
    assert client.fetch_balance()["USDT"]["used"] == 0
    assert client.fetch_orders("BTC/USDT")[-1]["status"] == "canceled"


def test_resting_limit_fills_when_the_market_reaches_it(client):
    ask = client.fetch_ticker("ETH/USDT")["ask"]
    order = client.create_order("ETH/USDT", "limit", "sell", 0.01, round(ask * 1.0002, 2))
    deadline = time.time() + 30
    while time.time() < deadline:
        status = client.fetch_order(order["id"], "ETH/USDT")["status"]
        if status == "closed":
            break
        time.sleep(0.1)
    else:
        client.cancel_order(order["id"], "ETH/USDT")
        pytest.fail("a sell 2 bp above the ask did not fill within 30 s of a moving market")
    trade = [t for t in client.fetch_my_trades("ETH/USDT") if t["order"] == order["id"]][0]
    assert trade["takerOrMaker"] == "maker"


def test_insufficient_funds(client):
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order("BTC/USDT", "market", "buy", 50)


def test_quantity_below_lot_filter_is_invalid_order(client):
    with pytest.raises(ccxt.InvalidOrder):
        client.create_order("BTC/USDT", "limit", "buy", 0.00005, 20000)


def test_duplicate_client_order_id_is_invalid_order(client):
    price = round(client.fetch_ticker("BTC/USDT")["bid"] * 0.5, 2)
    params = {"clientOrderId": "dup-1"}
    client.create_order("BTC/USDT", "limit", "buy", 0.001, price, params=params)
    with pytest.raises(ccxt.InvalidOrder):
        client.create_order("BTC/USDT", "limit", "buy", 0.001, price, params=params)


def test_unknown_order_is_order_not_found(client):
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order("987654321", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order("987654321", "BTC/USDT")


def test_unknown_symbol_is_bad_symbol(client):
    client.load_markets()
    with pytest.raises(ccxt.BadSymbol):
        client.publicGetDepth({"symbol": "DOGEUSDT"})


def test_wrong_secret_is_authentication_error(sandbox_account):
    bad = sync_client(
        "sandbox",
        api_key=sandbox_account.api_key,
        secret="0" * 64,
        sandbox_url=sandbox_account.base_url,
    )
    with pytest.raises(ccxt.AuthenticationError):
        bad.fetch_balance()


def test_unknown_key_is_authentication_error(sandbox_account):
    bad = sync_client(
        "sandbox", api_key="f" * 64, secret="0" * 64, sandbox_url=sandbox_account.base_url
    )
    with pytest.raises(ccxt.AuthenticationError):
        bad.fetch_balance()


def test_stale_timestamp_is_invalid_nonce(sandbox_account):
    query = f"timestamp={int(time.time() * 1000) - 60_000}&recvWindow=5000"
    signature = hmac.new(
        sandbox_account.secret.encode(), query.encode(), hashlib.sha256
    ).hexdigest()
    response = requests.get(
        f"{sandbox_account.base_url}/sandbox/api/v3/account?{query}&signature={signature}",
        headers={"X-MBX-APIKEY": sandbox_account.api_key},
        timeout=5,
    )
    assert response.status_code == 400 and response.json()["code"] == -1021
    client = sync_client(
        "sandbox",
        api_key=sandbox_account.api_key,
        secret=sandbox_account.secret,
        sandbox_url=sandbox_account.base_url,
    )
    client.options["recvWindow"] = 5000
    client.nonce = lambda: int(time.time() * 1000) - 60_000
    with pytest.raises(ccxt.InvalidNonce):
        client.fetch_balance()


def test_read_only_key_cannot_trade(sandbox_server, sandbox_url):
    account = open_account(sandbox_server, sandbox_url, {"USDT": "1000"}, can_trade=False)
    client = sync_client(
        "sandbox", api_key=account.api_key, secret=account.secret, sandbox_url=sandbox_url
    )
    assert client.fetch_balance()["USDT"]["free"] == 1000
    with pytest.raises(ccxt.PermissionDenied):
        client.create_order("BTC/USDT", "market", "buy", 0.001)


def test_maintenance_is_on_maintenance(sandbox_server, client):
    sandbox_server.call(setattr, sandbox_server.venues["sandbox-b"], "maintenance", True)
    try:
        b = sync_client("sandbox-b", sandbox_url=client.urls["api"]["public"].split("/sandbox")[0])
        with pytest.raises(ccxt.OnMaintenance):
            b.fetch_time()
    finally:
        sandbox_server.call(setattr, sandbox_server.venues["sandbox-b"], "maintenance", False)


def test_weight_budget_answers_429_with_retry_after():
    server, url = start_sandbox(weight_limit=30, venues=["sandbox"])
    try:
        client = sync_client("sandbox", sandbox_url=url)
        client.enableRateLimit = False
        statuses = []
        for _ in range(3):
            response = requests.get(f"{url}/sandbox/api/v3/exchangeInfo", timeout=5)
            statuses.append(response.status_code)
        assert statuses == [200, 429, 429]
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert response.json()["code"] == -1003
        with pytest.raises(ccxt.DDoSProtection):  # ccxt's parent of RateLimitExceeded for 429
            client.fetch_time()
    finally:
        server.stop_thread()


async def test_async_client_trades_and_reads(sandbox_account):
    client = async_client(
        "sandbox",
        api_key=sandbox_account.api_key,
        secret=sandbox_account.secret,
        sandbox_url=sandbox_account.base_url,
    )
    try:
        await client.load_markets()
        order = await client.create_order("ETH/USDT", "market", "sell", 0.1)
        assert order["status"] == "closed"
        balance = await client.fetch_balance()
        assert Decimal(str(balance["ETH"]["total"])) == Decimal("9.9")
    finally:
        await client.close()


async def test_ccxt_pro_streams_trades_book_and_ticker(sandbox_url):
    from exchanges.gateway.clients import pro_client

    client = pro_client("sandbox-b", sandbox_url=sandbox_url)
    try:
        trades = await client.watch_trades("BTC/USDT")
        assert trades[-1]["symbol"] == "BTC/USDT" and trades[-1]["price"] > 0
        assert abs(trades[-1]["timestamp"] - time.time() * 1000) < 2000
        nonces = []
        for _ in range(3):
            book = await client.watch_order_book("BTC/USDT")
            assert book["bids"][0][0] < book["asks"][0][0]
            assert len(book["bids"]) == 20  # diffs applied on the REST snapshot keep 20 levels
            nonces.append(book["nonce"])
        assert nonces == sorted(nonces) and len(set(nonces)) == 3
        ticker = await client.watch_ticker("ETH/USDT")
        assert ticker["last"] > 0
    finally:
        await client.close()
