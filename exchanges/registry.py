"""Which exchanges Peregrine can talk to: every ccxt exchange, plus the local sandbox venues.

A sandbox venue id (e.g. "sandbox", "sandbox-b") names a venue of the platform's own sandbox
exchange server; the gateway drives it with ccxt's unmodified `binance` class pointed at
`PEREGRINE_SANDBOX_URL/<venue>/`.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings


@cache
def ccxt_exchange_ids() -> frozenset[str]:
    import ccxt

    return frozenset(ccxt.exchanges)


def sandbox_venues() -> tuple[str, ...]:
    return tuple(settings.PEREGRINE_SANDBOX_VENUES)


def is_sandbox(exchange_id: str) -> bool:
    return exchange_id in sandbox_venues()


def is_supported(exchange_id: str) -> bool:
    """True for a ccxt exchange id or a configured sandbox venue."""
    return is_sandbox(exchange_id) or exchange_id in ccxt_exchange_ids()


def exchange_choices() -> list[tuple[str, str]]:
    sandbox = [(venue, f"Peregrine sandbox ({venue})") for venue in sandbox_venues()]
    return sandbox + [(eid, eid) for eid in sorted(ccxt_exchange_ids())]
