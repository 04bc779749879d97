"""The sandbox as the unmodified ccxt binance client sees it: only the URLs are changed.

No option is set (no fetchMargins: False, no fetchMarkets types, no fetchCurrencies: False), so
load_markets asks for what it asks Binance for: spot exchangeInfo, the margin pairs, the futures
venues' exchangeInfo and (with keys) the coin list. Every public fetch, every order type the
sandbox offers, the order queries, trades and balances are walked through ccxt's own methods.
"""

import time
from decimal import Decimal

import ccxt
import pytest

from exchanges.sandbox.testing import drive_book, open_account, point_at_sandbox

FUNDS = {"USDT": "1000000", "BTC": "2", "ETH": "10"}


@pytest.fixture
def account(sandbox_server, sandbox_url):
    return open_account(sandbox_server, sandbox_url, FUNDS)


@pytest.fixture
def client(account):
    return point_at_sandbox(
        ccxt.binance({"apiKey": account.api_key, "secret": account.secret}), account.base_url
    )


def _server_balance(server, account, asset):
    return server.call(server.venues["sandbox"].exchange.balance, account.account_id, asset)


def test_default_start_up_loads_spot_markets_and_coins(client):
    assert client.options["fetchMargins"] is True  # ccxt's default, untouched
    markets = client.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "ETH/BTC"}
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["active"] and not btc["margin"]
    assert btc["precision"]["price"] == 0.01 and btc["limits"]["cost"]["min"] == 5
    assert {"BTC", "ETH", "USDT"} <= set(client.currencies)
    assert client.currencies["USDT"]["active"] is not False
    # a client without keys starts up too (no coin list then, as on Binance)
    anonymous = point_at_sandbox(ccxt.binance(), client.urls["api"]["public"].split("/sandbox")[0])
    assert set(anonymous.load_markets()) == set(markets)


def test_every_public_fetch(client):
    client.load_markets()
    assert client.fetch_status()["status"] == "ok"
    assert abs(client.fetch_time() - time.time() * 1000) < 5000
    ticker = client.fetch_ticker("BTC/USDT")
    assert 0 < ticker["bid"] < ticker["ask"] and ticker["last"] > 0
    tickers = client.fetch_tickers()
    assert set(tickers) == {"BTC/USDT", "ETH/USDT", "ETH/BTC"}
    book = client.fetch_order_book("ETH/USDT", 5)
    assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
    assert book["nonce"] > 0
    trades = client.fetch_trades("BTC/USDT", limit=10)
    assert 0 < len(trades) <= 10 and all(t["price"] > 0 and t["amount"] > 0 for t in trades)
    bars = client.fetch_ohlcv("BTC/USDT", "15m", limit=8)
    assert len(bars) == 8 and all(b[0] % 900_000 == 0 for b in bars)
    bids_asks = client.fetch_bids_asks(["BTC/USDT"])
    assert bids_asks["BTC/USDT"]["bid"] < bids_asks["BTC/USDT"]["ask"]
    assert client.fetch_last_prices()["ETH/BTC"]["price"] > 0
    fees = client.fetch_trading_fees()
    assert fees["BTC/USDT"]["maker"] == 0.001 and fees["BTC/USDT"]["taker"] == 0.001
    assert client.fetch_trading_fee("ETH/USDT")["taker"] == 0.001
    coins = client.fetch_currencies()
    assert coins["BTC"]["networks"]  # one network: the sandbox ledger


def test_limit_order_locks_price_times_quantity_then_cancels(client, sandbox_server, account):
    client.load_markets()
    price = round(client.fetch_ticker("BTC/USDT")["bid"] * 0.8, 2)
    order = client.create_order("BTC/USDT", "limit", "buy", 0.01, price)
    assert order["status"] == "open" and order["price"] == price
    usdt = _server_balance(sandbox_server, account, "USDT")
    # Binance locks price x quantity for a resting buy, no fee on top
    assert usdt.locked == Decimal(str(price)) * Decimal("0.01")
    assert client.fetch_balance()["USDT"]["used"] == pytest.approx(price * 0.01)
    assert client.fetch_order(order["id"], "BTC/USDT")["status"] == "open"
    assert [o["id"] for o in client.fetch_open_orders("BTC/USDT")] == [order["id"]]
    cancelled = client.cancel_order(order["id"], "BTC/USDT")
    assert cancelled["status"] == "canceled"
    assert _server_balance(sandbox_server, account, "USDT").locked == 0
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(order["id"], "BTC/USDT")
    assert order["id"] in [o["id"] for o in client.fetch_closed_orders("BTC/USDT")] + [
        o["id"] for o in client.fetch_orders("BTC/USDT") if o["status"] == "canceled"
    ]


def test_market_orders_charge_the_fee_in_the_asset_received(client):
    client.load_markets()
    before = client.fetch_balance()
    buy = client.create_order("BTC/USDT", "market", "buy", 0.01)
    assert buy["status"] == "closed" and buy["filled"] == 0.01
    mine = client.fetch_order_trades(buy["id"], "BTC/USDT")
    assert sum(t["amount"] for t in mine) == pytest.approx(0.01)
    assert {t["fee"]["currency"] for t in mine} == {"BTC"}  # the buyer pays in the base
    assert sum(t["fee"]["cost"] for t in mine) == pytest.approx(0.01 * 0.001)
    after = client.fetch_balance()
    assert after["BTC"]["total"] == pytest.approx(before["BTC"]["total"] + 0.01 - 0.00001)
    assert after["USDT"]["total"] == pytest.approx(before["USDT"]["total"] - buy["cost"])
    sell = client.create_order("BTC/USDT", "market", "sell", 0.01)
    sold = client.fetch_order_trades(sell["id"], "BTC/USDT")
    assert {t["fee"]["currency"] for t in sold} == {"USDT"}  # the seller pays in the quote
    final = client.fetch_balance()
    fee = sum(t["fee"]["cost"] for t in sold)
    assert final["USDT"]["total"] == pytest.approx(after["USDT"]["total"] + sell["cost"] - fee)
    by_cost = client.create_market_buy_order_with_cost("ETH/USDT", 100)
    assert by_cost["status"] == "closed" and by_cost["cost"] == pytest.approx(100, rel=0.01)
    assert by_cost["cost"] <= 100


def test_time_in_force_ioc_fok_and_post_only(client):
    client.load_markets()
    ask = client.fetch_ticker("BTC/USDT")["ask"]
    ioc = client.create_order("BTC/USDT", "limit", "buy", 0.01, round(ask * 1.01, 2), {
        "timeInForce": "IOC"
    })  # fmt: skip
    assert ioc["status"] == "closed" and ioc["filled"] == 0.01
    # far below the ask: nothing fills, and an IOC does not rest
    ioc_away = client.create_order("BTC/USDT", "limit", "buy", 0.01, round(ask * 0.9, 2), {
        "timeInForce": "IOC"
    })  # fmt: skip
    assert ioc_away["status"] == "expired" and ioc_away["filled"] == 0
    # more than the whole book offers: a FOK fills nothing
    fok = client.create_order("BTC/USDT", "limit", "buy", 25, round(ask * 1.01, 2), {
        "timeInForce": "FOK"
    })  # fmt: skip
    assert fok["status"] == "expired" and fok["filled"] == 0
    maker = client.create_order("BTC/USDT", "limit", "buy", 0.01, round(ask * 0.9, 2), {
        "postOnly": True
    })  # fmt: skip
    assert maker["status"] == "open" and maker["postOnly"]
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        client.create_order("BTC/USDT", "limit", "buy", 0.01, round(ask * 1.01, 2), {
            "postOnly": True
        })  # fmt: skip
    client.cancel_all_orders("BTC/USDT")
    assert client.fetch_open_orders("BTC/USDT") == []


def test_stop_loss_limit_and_stop_loss_market_trigger_on_the_stop(client, sandbox_server):
    client.load_markets()
    bid = client.fetch_ticker("BTC/USDT")["bid"]
    stop = round(bid * 0.95, 2)
    limit_price = round(bid * 0.94, 2)
    stop_limit = client.create_order("BTC/USDT", "limit", "sell", 0.01, limit_price, {
        "stopPrice": stop
    })  # fmt: skip
    stop_market = client.create_order("BTC/USDT", "market", "sell", 0.01, None, {
        "stopLossPrice": stop
    })  # fmt: skip
    for order, kind in ((stop_limit, "STOP_LOSS_LIMIT"), (stop_market, "STOP_LOSS")):
        assert order["status"] == "open" and order["triggerPrice"] == stop
        assert order["info"]["type"] == kind and order["info"]["isWorking"] is False
    # a stop the market is already through is refused, as Binance does
    with pytest.raises(ccxt.InvalidOrder):
        client.create_order("BTC/USDT", "market", "sell", 0.01, None, {
            "stopLossPrice": round(bid * 1.05, 2)
        })  # fmt: skip
    sandbox_server.paused = True
    try:
        sandbox_server.call(lambda: None)
        # the market drops through the stop: the bid is below it, above the limit price
        fills = drive_book(sandbox_server, "BTC/USDT", round(bid * 0.945, 2), round(bid * 0.946, 2))
    finally:
        sandbox_server.paused = False
    assert {f.side.value for f in fills} == {"sell"}
    for order in (stop_limit, stop_market):
        done = client.fetch_order(order["id"], "BTC/USDT")
        assert done["status"] == "closed" and done["filled"] == 0.01
        assert done["average"] >= limit_price


def test_client_order_id_is_unique_among_open_orders_only(client):
    client.load_markets()
    price = round(client.fetch_ticker("BTC/USDT")["bid"] * 0.8, 2)
    first = client.create_order("BTC/USDT", "limit", "buy", 0.01, price, {"clientOrderId": "re-1"})
    with pytest.raises(ccxt.InvalidOrder):
        client.create_order("BTC/USDT", "limit", "buy", 0.01, price, {"clientOrderId": "re-1"})
    client.cancel_order(first["id"], "BTC/USDT")
    # once the first is done its id can be used again; the lookup finds the new order
    second = client.create_order("BTC/USDT", "limit", "buy", 0.01, price, {"clientOrderId": "re-1"})
    assert second["id"] != first["id"]
    found = client.fetch_order(None, "BTC/USDT", {"origClientOrderId": "re-1"})
    assert found["id"] == second["id"] and found["status"] == "open"
    assert client.fetch_order(first["id"], "BTC/USDT")["status"] == "canceled"
    client.cancel_order(None, "BTC/USDT", {"origClientOrderId": "re-1"})


def test_my_trades_and_balance_agree(client):
    client.load_markets()
    start = client.fetch_balance()
    orders = [client.create_order("ETH/BTC", "market", side, 0.05) for side in ("buy", "sell")]
    trades = client.fetch_my_trades("ETH/BTC")
    mine = [t for t in trades if t["order"] in {o["id"] for o in orders}]
    assert {t["side"] for t in mine} == {"buy", "sell"}
    end = client.fetch_balance()
    eth = sum((t["amount"] if t["side"] == "buy" else -t["amount"]) for t in mine)
    eth -= sum(t["fee"]["cost"] for t in mine if t["fee"]["currency"] == "ETH")
    btc = sum((-t["cost"] if t["side"] == "buy" else t["cost"]) for t in mine)
    btc -= sum(t["fee"]["cost"] for t in mine if t["fee"]["currency"] == "BTC")
    assert end["ETH"]["total"] == pytest.approx(start["ETH"]["total"] + eth, abs=1e-12)
    assert end["BTC"]["total"] == pytest.approx(start["BTC"]["total"] + btc, abs=1e-12)
