"""Pytest fixtures: a sandbox exchange on a free loopback port, and funded sandbox accounts.

Register them as a plugin (`pytest_plugins = ["exchanges.sandbox.testing"]`); the server runs on
its own event-loop thread and is driven by the unmodified ccxt client.
"""

from __future__ import annotations

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
