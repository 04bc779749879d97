"""A sandbox exchange has a price from its first request: a market order sent the moment it
starts fills, as on a real exchange, instead of being refused as 'Market is closed'."""

from __future__ import annotations

from exchanges.gateway.clients import sync_client
from exchanges.sandbox.testing import open_account, start_sandbox


def test_a_market_order_sent_before_the_first_tick_fills():
    server, url = start_sandbox(tick_seconds=3600)  # no tick will come during the test
    try:
        account = open_account(server, url, {"USDT": "100000"})
        for symbol in ("BTC/USDT", "ETH/BTC"):
            assert server.call(server.venues["sandbox"].exchange.last_price, symbol) is not None
        client = sync_client("sandbox", api_key=account.api_key, secret=account.secret,
                             sandbox_url=url)  # fmt: skip
        order = client.create_order("BTC/USDT", "market", "buy", 0.01)
        assert order["status"] == "closed" and order["filled"] == 0.01
    finally:
        server.stop_thread()
