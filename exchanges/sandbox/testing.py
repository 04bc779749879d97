"""Pytest fixtures: a sandbox exchange on a free loopback port, and funded sandbox accounts.

Register them as a plugin (`pytest_plugins = ["exchanges.sandbox.testing"]`); the server runs on
its own event-loop thread and is driven by the unmodified ccxt client.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import pytest

from exchanges.sandbox.app import build_server
from exchanges.sandbox.server import ApiKey, SandboxServer

VENUES = ["sandbox", "sandbox-b"]


@dataclass(frozen=True)
class SandboxAccount:
    account_id: str
    api_key: str
    secret: str
    base_url: str


def start_sandbox(**options) -> tuple[SandboxServer, str]:
    options.setdefault("tick_seconds", 0.05)
    options.setdefault("history_bars", 600)
    server = build_server(options.pop("venues", VENUES), **options)
    return server, server.start_in_thread()


def open_account(server: SandboxServer, base_url: str, funds: dict | None = None, **flags):
    """Create a key for a fresh account and credit `funds` on every venue."""
    account = SandboxAccount(
        f"acct-{secrets.token_hex(4)}", secrets.token_hex(32), secrets.token_hex(32), base_url
    )

    def setup():
        server.keys.add(ApiKey(account.api_key, account.secret, account.account_id, **flags))
        for venue in server.venues.values():
            for asset, amount in (funds or {}).items():
                venue.exchange.deposit(account.account_id, asset, amount)

    server.call(setup)
    return account


def point_at_sandbox(client, base_url: str, venue: str = "sandbox"):
    """Point an unmodified ccxt binance (or ccxt.pro binance) client at a sandbox venue by
    changing its URLs and nothing else: every REST base (spot, sapi, futures...) goes to
    `<base_url>/<venue>/...` with its path kept, the spot streams and the websocket API to
    the venue's. No option is touched, so the client starts up as it would against Binance."""
    root = f"{base_url.rstrip('/')}/{venue}"
    api = dict(client.urls["api"])
    for name, url in api.items():
        if isinstance(url, str) and url.startswith("https://"):
            api[name] = re.sub(r"^https://[^/]+", root, url)
    if isinstance(api.get("ws"), dict):
        ws_root = root.replace("http://", "ws://").replace("https://", "wss://")
        ws = dict(api["ws"])
        ws["spot"] = f"{ws_root}/stream/ws"
        ws["ws-api"] = {**ws.get("ws-api", {}), "spot": f"{ws_root}/ws-api/v3"}
        api["ws"] = ws
    client.urls["api"] = api
    return client


@pytest.fixture(scope="module")
def sandbox_server():
    """A fresh server per test module (tests leave orders and balances behind), stopped when the
    module is done: a server left running keeps ticking and takes CPU from later tests."""
    server, _ = start_sandbox()
    yield server
    server.stop_thread()


@pytest.fixture
def sandbox_url(sandbox_server) -> str:
    return f"http://127.0.0.1:{sandbox_server.port}"


@pytest.fixture
def sandbox_account(sandbox_server, sandbox_url) -> SandboxAccount:
    return open_account(sandbox_server, sandbox_url, {"USDT": "100000", "BTC": "1", "ETH": "10"})


def drive_book(server: SandboxServer, symbol: str, bid, ask, size="5", venue: str = "sandbox"):
    """Show the venue's matching engine one book (one level a side) now, as a market move
    would: resting orders and stops it reaches trade. Pause the server first so its own next
    tick does not come in between; the venue's next tick sets its usual book again."""
    from decimal import Decimal

    from tradecore.orderbook import OrderBook

    engine = server.venues[venue].exchange
    book = OrderBook(
        symbol,
        [(Decimal(str(bid)), Decimal(str(size)))],
        [(Decimal(str(ask)), Decimal(str(size)))],
        server.clock.now_ms(),
    )
    return server.call(engine.on_book, symbol, book)
