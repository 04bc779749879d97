"""ccxt's number formatting leaves the caller's decimal context as it found it."""

import asyncio
import decimal

import ccxt
import pytest
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, ROUND

from exchanges.gateway import clients

MARKET = {
    "id": "BTCUSDT",
    "symbol": "BTC/USDT",
    "base": "BTC",
    "quote": "USDT",
    "type": "spot",
    "spot": True,
    "precision": {"amount": 0.001, "price": 0.01},
    "limits": {},
}


def _context_state() -> tuple:
    ctx = decimal.getcontext()
    return ctx.prec, ctx.rounding, ctx.traps[decimal.Underflow]


def _exercise(client) -> tuple[str, str]:
    client.set_markets([MARKET])
    return (
        client.price_to_precision("BTC/USDT", "100.005"),
        client.decimal_to_precision("0.125", ROUND, 2, DECIMAL_PLACES),
    )


def test_plain_ccxt_changes_the_callers_context():
    """The hazard itself: without the factory's guard the thread's context is left changed."""
    with decimal.localcontext(decimal.Context()):
        before = _context_state()
        _exercise(ccxt.binance())
        after = _context_state()
    assert before[1] == decimal.ROUND_HALF_EVEN and not before[2]
    assert after[1] == decimal.ROUND_HALF_UP and after[2]


@pytest.mark.parametrize("factory", ["sync_client", "async_client", "pro_client"])
def test_project_clients_keep_the_callers_context(factory):
    with decimal.localcontext(decimal.Context()):
        before = _context_state()
        client = getattr(clients, factory)("binance")
        try:
            price, rounded = _exercise(client)
        finally:
            if factory != "sync_client":
                asyncio.run(client.close())
        assert _context_state() == before
        # ccxt's own rounding is unchanged inside the call: half up, as the exchange expects.
        assert (price, rounded) == ("100.01", "0.13")
        assert format(decimal.Decimal("22330.385"), ".2f") == "22330.38"  # half to even, still
