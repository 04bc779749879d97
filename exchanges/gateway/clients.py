"""The one place Peregrine builds outbound exchange clients (ccxt), so tests replace one point.

A sandbox venue id maps to ccxt's unmodified `binance` class with every API base URL pointed at
`<PEREGRINE_SANDBOX_URL>/<venue>/`; any other id is the ccxt exchange of that name.
"""

from __future__ import annotations

import decimal
import functools
import ssl
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from exchanges import registry

SANDBOX_CLASS = "binance"


def sandbox_urls(base_url: str, venue: str) -> dict[str, str]:
    """ccxt `urls['api']` for a sandbox venue: spot REST under /api/v3, key info under /sapi/v1."""
    root = f"{base_url.rstrip('/')}/{venue}"
    return {
        "public": f"{root}/api/v3",
        "private": f"{root}/api/v3",
        "v1": f"{root}/api/v1",
        "sapi": f"{root}/sapi/v1",
        "sapiV2": f"{root}/sapi/v2",
        "sapiV3": f"{root}/sapi/v3",
        "sapiV4": f"{root}/sapi/v4",
    }


def ccxt_config(
    exchange_id: str,
    *,
    api_key: str = "",
    secret: str = "",
    password: str = "",
    sandbox_url: str | None = None,
    timeout_ms: int = 10_000,
) -> tuple[str, dict[str, Any]]:
    """Return (ccxt class name, constructor config) for an exchange id and credentials."""
    config: dict[str, Any] = {"enableRateLimit": True, "timeout": timeout_ms}
    if api_key:
        config.update(apiKey=api_key, secret=secret)
    if password:
        config["password"] = password
    if not registry.is_sandbox(exchange_id):
        return exchange_id, config
    config["options"] = {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        "adjustForTimeDifference": False,
        "warnOnFetchOpenOrdersWithoutSymbol": False,
    }
    config["hostname"] = "sandbox.invalid"  # never used: every URL below is absolute
    return SANDBOX_CLASS, config


def _own_decimal_context(client):
    """Keep ccxt's number formatting from changing the caller's decimal context.

    ccxt's `decimal_to_precision` (every `amount_to_precision`, `price_to_precision` and
    `cost_to_precision` goes through the client's `decimal_to_precision` attribute) sets the
    calling thread's context to ROUND_HALF_UP and traps Underflow, for good. Money code elsewhere
    in Peregrine (and in the same worker thread) then computes in a context it did not choose. The
    client's copy runs each call in a local context, so the caller's is left as it was.
    """
    original = client.decimal_to_precision

    @functools.wraps(original)
    def decimal_to_precision(*args, **kwargs):
        with decimal.localcontext():
            return original(*args, **kwargs)

    client.decimal_to_precision = decimal_to_precision
    return client


def _apply_urls(client, exchange_id: str, sandbox_url: str | None):
    if registry.is_sandbox(exchange_id):
        from django.conf import settings

        api = dict(client.urls["api"])
        api.update(sandbox_urls(sandbox_url or settings.PEREGRINE_SANDBOX_URL, exchange_id))
        client.urls["api"] = api
    return client


def sync_client(exchange_id: str, **kwargs):
    """A blocking ccxt client (management commands, fetch_ohlcv)."""
    name, config = ccxt_config(exchange_id, **kwargs)
    client = _own_decimal_context(getattr(ccxt, name)(config))
    return _apply_urls(client, exchange_id, kwargs.get("sandbox_url"))


@functools.cache
def _ssl_context(cafile: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def _quick_open_and_close(client, exchange_id: str, sandbox_url: str | None):
    """A client opened and closed per request costs no more than its requests.

    ccxt builds an SSL context (its CA file read and parsed, ~90 ms) on every client's first
    request: one context per CA file is shared instead (contexts are safe to share). Closing
    waits `timeout_on_exit` (250 ms) for TLS connections to wind down: a sandbox reached over
    plain HTTP has none."""
    if client.verify and client.ssl_context is None:
        client.ssl_context = _ssl_context(client.cafile)
    if registry.is_sandbox(exchange_id):
        from django.conf import settings

        if (sandbox_url or settings.PEREGRINE_SANDBOX_URL).startswith("http://"):
            client.timeout_on_exit = 0
    return client


def async_client(exchange_id: str, **kwargs):
    """An asyncio ccxt client (gateway, collectors). The caller closes it."""
    name, config = ccxt_config(exchange_id, **kwargs)
    client = _own_decimal_context(getattr(ccxt_async, name)(config))
    client = _quick_open_and_close(client, exchange_id, kwargs.get("sandbox_url"))
    return _apply_urls(client, exchange_id, kwargs.get("sandbox_url"))


def pro_client(exchange_id: str, **kwargs):
    """A ccxt.pro websocket client (sandbox venues serve Binance-style streams), or None."""
    import ccxt.pro as ccxt_pro

    name, config = ccxt_config(exchange_id, **kwargs)
    cls = getattr(ccxt_pro, name, None)
    if cls is None:
        return None
    client = _apply_urls(_own_decimal_context(cls(config)), exchange_id, kwargs.get("sandbox_url"))
    if registry.is_sandbox(exchange_id):
        from django.conf import settings

        base = (kwargs.get("sandbox_url") or settings.PEREGRINE_SANDBOX_URL).rstrip("/")
        ws_root = base.replace("http://", "ws://").replace("https://", "wss://")
        ws = dict(client.urls["api"]["ws"])
        ws["spot"] = f"{ws_root}/{exchange_id}/stream/ws"
        client.urls["api"]["ws"] = ws
    return client
