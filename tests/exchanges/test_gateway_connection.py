"""Test connection of an exchange account against the sandbox exchange (real ccxt, real HTTP)."""

import pytest

from exchanges.models import ExchangeAccount
from exchanges.sandbox.testing import open_account
from exchanges.services.connection import (
    IP_WARNING,
    UNREPORTED_WARNING,
    WITHDRAWALS_WARNING,
    exchange_account_test_connection,
    restriction_warnings,
)
from exchanges.services.credentials import exchange_account_create


def _account(user, key):
    return exchange_account_create(
        user=user,
        exchange="sandbox",
        label="sandbox main",
        mode="paper",
        api_key=key.api_key,
        secret=key.secret,
    )


@pytest.mark.django_db
def test_restricted_key_connects_with_balance_and_no_warning(alice, sandbox_server, sandbox_url):
    key = open_account(sandbox_server, sandbox_url, {"USDT": "2500"}, ip_restrict=True)
    report = exchange_account_test_connection(account=_account(alice, key), sandbox_url=sandbox_url)
    assert report.ok and report.error == ""
    assert report.balances["USDT"] == 2500
    assert report.warnings == []


@pytest.mark.django_db
def test_withdrawal_enabled_unrestricted_key_warns_twice(alice, sandbox_server, sandbox_url):
    key = open_account(sandbox_server, sandbox_url, {"BTC": "1"}, enable_withdrawals=True)
    report = exchange_account_test_connection(account=_account(alice, key), sandbox_url=sandbox_url)
    assert report.ok
    assert report.warnings == [WITHDRAWALS_WARNING, IP_WARNING]


@pytest.mark.django_db
def test_refused_key_fails_and_disables_the_account(alice, sandbox_server, sandbox_url):
    key = open_account(sandbox_server, sandbox_url, {})
    account = _account(alice, key)
    sandbox_server.call(sandbox_server.keys._keys.pop, key.api_key)
    report = exchange_account_test_connection(account=account, sandbox_url=sandbox_url)
    assert not report.ok and report.action == "disable_key"
    account.refresh_from_db()
    assert account.status == ExchangeAccount.Status.DISABLED
    assert "refused" in account.disabled_reason


def test_exchanges_that_do_not_report_permissions_get_a_reminder():
    assert restriction_warnings(None) == [UNREPORTED_WARNING]
