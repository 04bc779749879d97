"""The ccxt adapter: async ccxt behind the gateway interface, with Peregrine's error policy.

Every call draws from the key's shared Redis budget first. Errors are classified (see
errors.py): reads retry transient failures and rate limits with backoff, an InvalidNonce
re-syncs the clock once, a refused key is reported through `on_disable_key`; order creation is
never retried, and an open outcome returns an UNKNOWN order to be resolved by lookup.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

from exchanges.gateway import clients
from exchanges.gateway.errors import Action, Decision, GatewayError, classify
from exchanges.gateway.interface import (
    BalanceLine,
    ExchangeOrder,
    ExchangeTrade,
    MarketInfo,
)
from exchanges.gateway.ratelimit import RateLimiter, budget_for, scope_for
from tradecore.domain import OrderStatus

logger = logging.getLogger(__name__)

# request weights (Binance spot documentation); other exchanges count one per call
WEIGHTS = {
    "load_markets": 20,
    "create_order": 1,
    "cancel_order": 1,
    "fetch_order": 4,
    "fetch_open_orders": 6,
    "fetch_balance": 20,
    "fetch_my_trades": 20,
    "fetch_order_book": 5,
    "fetch_ticker": 2,
    "fetch_ohlcv": 2,
    "fetch_trades": 25,
    "fetch_time": 1,
    "api_restrictions": 1,
}
MARKETS_TTL_SECONDS = 3600
# ccxt reads Binance's -2015 ("Invalid API-key, IP, or permissions") as a temporary ban once a
# key has worked (DDoSProtection); a key that keeps getting it was revoked: disable it.
_KEY_REFUSED = re.compile(r'"code":\s*-2015\b')
KEY_REFUSALS_BEFORE_DISABLE = 3
_markets_cache: dict[tuple[str, str], tuple[float, dict[str, MarketInfo], dict]] = {}


def _dec(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def order_status(order: dict) -> OrderStatus:
    status = order.get("status")
    filled = order.get("filled") or 0
    if status == "open":
        return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.OPEN
    return {
        "closed": OrderStatus.FILLED,
        "canceled": OrderStatus.CANCELLED,
        "expired": OrderStatus.EXPIRED,
        "rejected": OrderStatus.REJECTED,
    }.get(status, OrderStatus.UNKNOWN)


def to_order(order: dict) -> ExchangeOrder:
    fee = order.get("fee") or {}
    return ExchangeOrder(
        client_order_id=order.get("clientOrderId") or "",
        symbol=order.get("symbol") or "",
        side=order.get("side") or "",
        type=order.get("type") or "",
        status=order_status(order),
        amount=_dec(order.get("amount")) or Decimal(0),
        price=_dec(order.get("price")),
        exchange_order_id=order.get("id"),
        filled=_dec(order.get("filled")) or Decimal(0),
        average=_dec(order.get("average")),
        fee=_dec(fee.get("cost")),
        fee_currency=fee.get("currency"),
        timestamp=order.get("timestamp"),
        raw=order.get("info") or {},
    )


class CcxtGateway:
    """One exchange account (or public access) through async ccxt."""

    def __init__(
        self,
        exchange_id: str,
        *,
        api_key: str = "",
        secret: str = "",
        password: str = "",
        sandbox_url: str | None = None,
        redis_url: str | None = None,
        limiter: RateLimiter | None = None,
        on_disable_key: Callable[[str], Awaitable[None]] | None = None,
        max_read_attempts: int = 4,
        timeout_ms: int = 10_000,
        backoff_base: float = 1.0,
    ) -> None:
        self.exchange_id = exchange_id
        self.client = clients.async_client(
            exchange_id,
            api_key=api_key,
            secret=secret,
            password=password,
            sandbox_url=sandbox_url,
            timeout_ms=timeout_ms,
        )
        self._cache_key = (exchange_id, str(self.client.urls.get("api")))
        if limiter is None and redis_url:
            budget = budget_for(self.client.id, self.client.rateLimit)
            limiter = RateLimiter(redis_url, scope_for(exchange_id, api_key), budget)
        self.limiter = limiter
        self.on_disable_key = on_disable_key
        self.max_read_attempts = max_read_attempts
        self.weighted = self.client.id == "binance"
        self.backoff_base = backoff_base
        self._key_refusals = 0

    async def close(self) -> None:
        await self.client.close()
        if self.limiter is not None:
            await self.limiter.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- the call wrapper ------------------------------------------------------------------
    async def _call(self, operation: str, func, *args, creating: bool = False, **kwargs):
        attempt = 0
        while True:
            attempt += 1
            if self.limiter is not None:
                await self.limiter.acquire(WEIGHTS.get(operation, 1) if self.weighted else 1)
            try:
                result = await func(*args, **kwargs)
            except Exception as exc:
                headers = getattr(self.client, "last_response_headers", None)
                decision = self._key_refusal(classify(exc, creating=creating, headers=headers))
                if await self._recover(decision, attempt, creating):
                    continue
                if decision.action is Action.DISABLE_KEY and self.on_disable_key is not None:
                    await self.on_disable_key(decision.reason)
                raise GatewayError(decision, operation) from exc
            self._key_refusals = 0
            return result

    def _key_refusal(self, decision: Decision) -> Decision:
        if decision.action is not Action.BACKOFF or not _KEY_REFUSED.search(decision.reason):
            return decision
        self._key_refusals += 1
        if self._key_refusals >= KEY_REFUSALS_BEFORE_DISABLE:
            return Decision(Action.DISABLE_KEY, None, decision.reason)
        return decision

    async def _recover(self, decision: Decision, attempt: int, creating: bool) -> bool:
        """Wait or re-sync as the decision says; True when the call should be tried again."""
        if decision.action is Action.BACKOFF:
            delay = decision.retry_after
            if delay is None:
                delay = self.backoff_base * 2 ** (attempt - 1)
            if self.limiter is not None:
                await self.limiter.block_for(delay)
            if creating or attempt >= self.max_read_attempts:
                return False
            await asyncio.sleep(0 if self.limiter is not None else delay)
            return True
        if decision.action is Action.RESYNC_TIME and attempt == 1:
            await self.resync_time()
            return not creating
        if decision.action is Action.RETRY and not creating:
            if attempt >= self.max_read_attempts:
                return False
            await asyncio.sleep(min(0.25 * 2 ** (attempt - 1), 5))
            return True
        return False

    async def resync_time(self) -> None:
        """Measure the exchange clock's offset so signed requests carry its time."""
        if hasattr(self.client, "load_time_difference"):
            self.client.options["adjustForTimeDifference"] = True
            await self.client.load_time_difference()

    # -- markets ---------------------------------------------------------------------------
    async def load_markets(self, *, reload: bool = False) -> dict[str, MarketInfo]:
        """Markets with precision and limits, cached per exchange for an hour."""
        cached = _markets_cache.get(self._cache_key)
        if cached and not reload and time.monotonic() - cached[0] < MARKETS_TTL_SECONDS:
            if not self.client.markets:
                self.client.set_markets(cached[2])
            return cached[1]
        raw = await self._call("load_markets", self.client.load_markets, reload)
        infos = {symbol: self._market_info(m) for symbol, m in raw.items()}
        _markets_cache[self._cache_key] = (time.monotonic(), infos, raw)
        return infos

    def _market_info(self, m: dict) -> MarketInfo:
        limits = m.get("limits") or {}
        precision = m.get("precision") or {}
        return MarketInfo(
            symbol=m["symbol"],
            base=m["base"],
            quote=m["quote"],
            price_step=_dec(precision.get("price")),
            amount_step=_dec(precision.get("amount")),
            min_amount=_dec((limits.get("amount") or {}).get("min")),
            min_cost=_dec((limits.get("cost") or {}).get("min")),
            active=m.get("active") is not False,
        )

    # -- orders ----------------------------------------------------------------------------
    async def create_order(
        self,
        *,
        symbol: str,
        side: str,
        type: str,
        amount: Decimal,
        price: Decimal | None = None,
        client_order_id: str,
    ) -> ExchangeOrder:
        """Send one order with Peregrine's client order id; never retried.

        A timeout or network failure returns an UNKNOWN order: look it up by client order id.
        """
        await self.load_markets()
        params = {"clientOrderId": client_order_id}
        try:
            raw = await self._call(
                "create_order",
                self.client.create_order,
                symbol,
                type,
                side,
                float(amount),
                None if price is None else float(price),
                params,
                creating=True,
            )
        except GatewayError as exc:
            if exc.action is not Action.UNKNOWN:
                raise
            logger.warning("order %s outcome unknown: %s", client_order_id, exc.decision.reason)
            return ExchangeOrder(
                client_order_id,
                symbol,
                side,
                type,
                OrderStatus.UNKNOWN,
                amount,
                price,
                reason=exc.decision.reason,
            )
        order = to_order(raw)
        if not order.client_order_id:
            order = ExchangeOrder(**{**order.__dict__, "client_order_id": client_order_id})
        return order

    def _id_params(self, client_order_id, exchange_order_id):
        if exchange_order_id:
            return exchange_order_id, {}
        if not client_order_id:
            raise ValueError("need a client order id or an exchange order id")
        key = "origClientOrderId" if self.client.id == "binance" else "clientOrderId"
        return None, {key: client_order_id}

    async def cancel_order(
        self,
        *,
        symbol: str,
        client_order_id: str | None = None,
        exchange_order_id: str | None = None,
    ) -> ExchangeOrder:
        await self.load_markets()
        order_id, params = self._id_params(client_order_id, exchange_order_id)
        raw = await self._call("cancel_order", self.client.cancel_order, order_id, symbol, params)
        return to_order(raw)

    async def fetch_order(
        self,
        *,
        symbol: str,
        client_order_id: str | None = None,
        exchange_order_id: str | None = None,
    ) -> ExchangeOrder:
        await self.load_markets()
        order_id, params = self._id_params(client_order_id, exchange_order_id)
        raw = await self._call("fetch_order", self.client.fetch_order, order_id, symbol, params)
        return to_order(raw)

    async def fetch_open_orders(self, *, symbol: str | None = None) -> list[ExchangeOrder]:
        await self.load_markets()
        raw = await self._call("fetch_open_orders", self.client.fetch_open_orders, symbol)
        return [to_order(o) for o in raw]

    async def fetch_balance(self) -> dict[str, BalanceLine]:
        raw = await self._call("fetch_balance", self.client.fetch_balance)
        out = {}
        for asset, free in (raw.get("free") or {}).items():
            used = (raw.get("used") or {}).get(asset) or 0
            out[asset] = BalanceLine(asset, _dec(free or 0), _dec(used))
        return out

    async def fetch_my_trades(
        self, *, symbol: str, since: int | None = None, limit: int | None = None
    ) -> list[ExchangeTrade]:
        await self.load_markets()
        raw = await self._call("fetch_my_trades", self.client.fetch_my_trades, symbol, since, limit)
        return [
            ExchangeTrade(
                str(t["id"]),
                t.get("order"),
                t["symbol"],
                t["side"],
                _dec(t["price"]),
                _dec(t["amount"]),
                _dec((t.get("fee") or {}).get("cost")),
                (t.get("fee") or {}).get("currency"),
                t.get("takerOrMaker"),
                t["timestamp"],
            )
            for t in raw
        ]

    # -- market data -----------------------------------------------------------------------
    async def fetch_order_book(self, *, symbol: str, limit: int | None = None) -> dict:
        await self.load_markets()
        return await self._call("fetch_order_book", self.client.fetch_order_book, symbol, limit)

    async def fetch_ticker(self, *, symbol: str) -> dict:
        await self.load_markets()
        return await self._call("fetch_ticker", self.client.fetch_ticker, symbol)

    async def fetch_trades(
        self, *, symbol: str, since: int | None = None, limit: int | None = None
    ) -> list[dict]:
        await self.load_markets()
        return await self._call("fetch_trades", self.client.fetch_trades, symbol, since, limit)

    async def fetch_ohlcv(
        self, *, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None
    ) -> list[list]:
        await self.load_markets()
        return await self._call(
            "fetch_ohlcv", self.client.fetch_ohlcv, symbol, timeframe, since, limit
        )

    async def api_restrictions(self) -> dict | None:
        """Binance's key permissions (withdrawals, IP restriction); None elsewhere."""
        method = getattr(self.client, "sapi_get_account_apirestrictions", None)
        if method is None or self.client.id != "binance":
            return None
        return await self._call("api_restrictions", method)
