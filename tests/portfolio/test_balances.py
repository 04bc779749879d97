"""Exchange account balances come from the exchange (the sandbox, through ccxt) and are stored."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from exchanges.sandbox.testing import open_account
from exchanges.services.credentials import exchange_account_create
from portfolio.models import ExchangeBalance
from portfolio.selectors import exchange_balance_list
from portfolio.services import exchange_balances_refresh, exchange_balances_refresh_all


@pytest.fixture
def alice_sandbox_account(alice, sandbox_server, sandbox_url, settings):
    settings.PEREGRINE_SANDBOX_URL = sandbox_url
    key = open_account(sandbox_server, sandbox_url, {"USDT": "2500", "BTC": "0.25"})
    return exchange_account_create(
        user=alice,
        exchange="sandbox",
        label="sandbox main",
        mode="paper",
        api_key=key.api_key,
        secret=key.secret,
    )


def test_refresh_stores_what_the_exchange_reports(alice, bob, alice_sandbox_account):
    exchange_balances_refresh(account=alice_sandbox_account)
    rows = {b.asset: b for b in exchange_balance_list(user=alice)}
    assert set(rows) == {"USDT", "BTC"}
    assert (rows["USDT"].free, rows["USDT"].used, rows["USDT"].total) == (D("2500"), 0, D("2500"))
    assert rows["BTC"].total == D("0.25")
    assert list(exchange_balance_list(user=bob)) == []


def test_an_asset_gone_to_zero_is_dropped(alice_sandbox_account):
    ExchangeBalance.objects.create(
        account=alice_sandbox_account,
        asset="DOGE",
        free=D(5),
        used=D(0),
        total=D(5),
        fetched_at="2026-01-01T00:00:00Z",
    )
    exchange_balances_refresh(account=alice_sandbox_account)
    assert not ExchangeBalance.objects.filter(asset="DOGE").exists()


def test_refresh_all_covers_accounts_of_trading_bots_and_counts_failures(
    alice, alice_sandbox_account, make_bot, settings
):
    from trading.models import BotVenue

    bot = make_bot(alice, venues=["sandbox"], status="running")
    BotVenue.objects.filter(bot=bot).update(exchange_account=alice_sandbox_account)
    assert exchange_balances_refresh_all() == {"refreshed": 1, "failed": 0}
    assert ExchangeBalance.objects.filter(account=alice_sandbox_account).count() == 2

    settings.PEREGRINE_SANDBOX_URL = "http://127.0.0.1:9"  # the exchange is down
    assert exchange_balances_refresh_all() == {"refreshed": 0, "failed": 1}
    assert ExchangeBalance.objects.filter(account=alice_sandbox_account).count() == 2
