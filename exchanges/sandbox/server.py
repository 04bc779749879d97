"""The sandbox exchange's HTTP server: a Binance spot REST subset over tradecore's engine.

Every venue is served under its own prefix, `/<venue>/api/v3/...` (and `/<venue>/sapi/v1/...`
for key permissions), so ccxt's unmodified `binance` class works when its API URLs point there.
Signed endpoints check the API key, HMAC-SHA256 signature, timestamp and recvWindow exactly as
Binance documents; every request spends weight from a per-IP one-minute budget and an
exhausted budget answers 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from aiohttp import web

from exchanges.sandbox import errors
from exchanges.sandbox.errors import BinanceError
from exchanges.sandbox.streams import KLINE_INTERVALS_MS, StreamHub
from exchanges.sandbox.venue import MINUTE_MS, SymbolState, Venue
from exchanges.sandbox.wire import ORDER_TYPES, STATUS, TYPE_NAMES
from tradecore.clock import Clock, WallClock
from tradecore.domain import Order, OrderRequest, OrderStatus, Side, TimeInForce

logger = logging.getLogger(__name__)

KEY_ONLY = "key"  # a route that needs the X-MBX-APIKEY header but no signature
DEFAULT_WEIGHT_LIMIT = 6000
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60_000
_SIGNATURE = re.compile(r"&?signature=[^&]*")


@dataclass(frozen=True)
class ApiKey:
    """A sandbox API key: who it trades as and what Binance would report about its permissions."""

    api_key: str
    secret: str
    account_id: str
    can_trade: bool = True
    enable_withdrawals: bool = False
    ip_restrict: bool = False
    created_ms: int = 0


class KeyStore:
    """API keys known to the server; the database loader keeps it in step with sandbox users."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    def add(self, key: ApiKey) -> None:
        self._keys[key.api_key] = key

    def replace_all(self, keys: list[ApiKey]) -> None:
        self._keys = {k.api_key: k for k in keys}

    def get(self, api_key: str) -> ApiKey | None:
        return self._keys.get(api_key)


class WeightBudget:
    """Request weight per IP in fixed windows (one minute), like Binance's REQUEST_WEIGHT limit.

    Past the limit a request is refused with 429 and Retry-After (the end of the window). An
    IP that keeps sending through its refusals is banned as Binance escalates: past
    `refusals_before_ban` 429s in one window every request answers 418 with Retry-After until
    the ban ends; bans last 2 minutes and double for each repeat, up to 3 days.
    """

    FIRST_BAN_MS = 120_000
    MAX_BAN_MS = 3 * 86_400_000

    def __init__(
        self, limit: int, *, window_ms: int = MINUTE_MS, refusals_before_ban: int = 3
    ) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self.refusals_before_ban = refusals_before_ban
        self._used: dict[str, tuple[int, int, int]] = {}  # ip -> (window, weight, refusals)
        self._banned_until: dict[str, int] = {}
        self._bans: dict[str, int] = {}

    def spend(self, ip: str, weight: int, now_ms: int) -> int:
        until = self._banned_until.get(ip, 0)
        if now_ms < until:
            raise errors.ip_banned(until, -(-(until - now_ms) // 1000))
        window = now_ms // self.window_ms
        start, used, refusals = self._used.get(ip, (window, 0, 0))
        if start != window:
            used = refusals = 0
        used += weight
        if used <= self.limit:
            self._used[ip] = (window, used, refusals)
            return used
        refusals += 1
        self._used[ip] = (window, used, refusals)
        if refusals > self.refusals_before_ban:
            bans = self._bans.get(ip, 0)
            self._bans[ip] = bans + 1
            until = now_ms + min(self.FIRST_BAN_MS * 2**bans, self.MAX_BAN_MS)
            self._banned_until[ip] = until
            raise errors.ip_banned(until, -(-(until - now_ms) // 1000))
        retry_after = max(1, -(-((window + 1) * self.window_ms - now_ms) // 1000))
        raise errors.too_much_weight(self.limit, retry_after)


def fmt(value: Decimal | None) -> str:
    if value is None:
        return "0.00000000"
    text = format(value, "f")
    return text if "." in text else f"{text}.0"


Handler = Callable[["Request"], Awaitable[object]]


@dataclass
class Request:
    venue: Venue
    params: dict[str, str]
    key: ApiKey | None


class SandboxServer:
    """Serve one or more venues over HTTP and drive their markets on a timer."""

    def __init__(
        self,
        venues: dict[str, Venue],
        *,
        keys: KeyStore | None = None,
        clock: Clock | None = None,
        weight_limit: int = DEFAULT_WEIGHT_LIMIT,
        weight_window_ms: int = MINUTE_MS,
        tick_seconds: float = 0.25,
        on_tick: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.venues = venues
        self.keys = keys or KeyStore()
        self.clock = clock or WallClock()
        self.weights = WeightBudget(weight_limit, window_ms=weight_window_ms)
        self.tick_seconds = tick_seconds
        self.on_tick = on_tick
        self.paused = False
        self._routes: dict[tuple[str, str], tuple[Handler, int, bool]] = {}
        self._register_routes()
        self.streams = StreamHub(
            venues, self._ticker, clock=self.clock, ws_auth=self.authenticate_ws
        )
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._market_task: asyncio.Task | None = None
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{venue}/stream/ws/{index}", self.streams.handle)
        app.router.add_get("/{venue}/stream/ws", self.streams.handle)
        app.router.add_get("/{venue}/ws-api/v3", self.streams.handle_ws_api)
        app.router.add_route("*", "/{venue}/{api}/{version}/{path:.*}", self._dispatch)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._market_task = asyncio.create_task(self._market_loop())
        logger.info(
            "sandbox exchange listening on %s:%s, venues %s",
            host,
            self.port,
            ", ".join(self.venues),
        )
        return self.port

    async def stop(self) -> None:
        if self._market_task:
            self._market_task.cancel()
        if self._runner:
            await self._runner.cleanup()

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Run the server on its own event loop thread (tests, benches); return its base URL."""
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start(host, port))
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="sandbox-exchange", daemon=True)
        self._thread.start()
        ready.wait(10)
        return f"http://{host}:{self.port}"

    def stop_thread(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def call(self, func, *args):
        """Run `func(*args)` on the server's loop thread and return its result (tests, commands)."""
        if self._loop is None:
            return func(*args)

        async def wrapper():
            return func(*args)

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    async def _market_loop(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.tick_seconds)
            now = time.monotonic()
            dt, last = now - last, now
            if self.paused:
                self.streams.notify_user()  # what tests drove by hand still reaches the streams
                continue
            try:
                await self.tick(dt)
            except Exception:  # a bad tick must not stop the market
                logger.exception("sandbox market tick failed")

    async def tick(self, dt_seconds: float | None = None) -> None:
        """One market tick: move every venue, then send what it changed to the streams."""
        self.step(dt_seconds)
        self.streams.notify_user()
        await self.streams.send(self.streams.collect(self.clock.now_ms()))
        if self.on_tick is not None:
            await self.on_tick()

    def tick_now(self, dt_seconds: float | None = None) -> None:
        """Run one tick on the server's loop and wait for it (tests, with the market paused)."""
        asyncio.run_coroutine_threadsafe(self.tick(dt_seconds), self._loop).result(10)

    def step(self, dt_seconds: float | None = None) -> None:
        """Advance every venue's market by one tick."""
        now = self.clock.now_ms()
        for venue in self.venues.values():
            venue.step(now, dt_seconds or self.tick_seconds)

    # -- HTTP plumbing ---------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.Response:
        venue = self.venues.get(request.match_info["venue"])
        match = request.match_info
        path = f"{match['api']}/{match['version']}/{match['path']}"
        headers: dict[str, str] = {}
        try:
            if venue is None:
                raise BinanceError(404, -1000, f"Unknown venue {request.match_info['venue']!r}.")
            route = self._routes.get((request.method, path))
            if route is None:
                raise BinanceError(404, -1000, f"Unknown endpoint {request.method} /{path}.")
            handler, weight, signed = route
            body = await request.text() if request.can_read_body else ""
            params = dict(request.query)
            if body:
                params.update({k: v for k, v in _parse_form(body).items()})
            weight = _weight_for(path, params, weight)
            ip = request.remote or "?"
            used = self.weights.spend(f"{venue.name}|{ip}", weight, self.clock.now_ms())
            headers["X-MBX-USED-WEIGHT-1M"] = str(used)
            if venue.maintenance:
                raise errors.maintenance()
            if signed is KEY_ONLY:
                key = self._api_key(request.headers.get("X-MBX-APIKEY", ""))
            else:
                key = self._authenticate(request, params, body) if signed else None
            result = await handler(Request(venue, params, key))
            if key is not None:
                self.streams.notify_user()
            return web.Response(
                text=json.dumps(result), content_type="application/json", headers=headers
            )
        except Exception as exc:
            if not isinstance(exc, BinanceError):
                logger.exception("sandbox request %s %s failed", request.method, path)
                exc = BinanceError(
                    500, -1000, "An unknown error occurred while processing the request."
                )
            headers.update(exc.headers)
            payload = json.dumps({"code": exc.code, "msg": exc.msg})
            return web.Response(
                status=exc.status, text=payload, content_type="application/json", headers=headers
            )

    def _api_key(self, api_key: str) -> ApiKey:
        if not api_key or len(api_key) < 16:
            raise errors.api_key_format_invalid()
        key = self.keys.get(api_key)
        if key is None:
            raise errors.api_key_invalid()
        return key

    def check_timestamp(self, params: dict) -> None:
        """Binance's timestamp / recvWindow rule for a signed request."""
        try:
            timestamp = int(params.get("timestamp", ""))
            window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW))
        except ValueError:
            raise errors.bad_param(
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            ) from None
        if window > MAX_RECV_WINDOW:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        now = self.clock.now_ms()
        if timestamp > now + 1000 or now - timestamp > window:
            raise errors.timestamp_outside_window()

    def authenticate_ws(self, params: dict) -> ApiKey:
        """Check a websocket API request's apiKey, timestamp and signature (HMAC-SHA256 over
        the other parameters sorted by name, as Binance's websocket API signs)."""
        key = self._api_key(str(params.get("apiKey", "")))
        signature = str(params.get("signature", ""))
        if not signature:
            raise errors.bad_param(
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
        expected = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise errors.signature_invalid()
        self.check_timestamp(params)
        return key

    def _authenticate(self, request: web.Request, params: dict, body: str) -> ApiKey:
        key = self._api_key(request.headers.get("X-MBX-APIKEY", ""))
        signature = params.get("signature")
        if not signature:
            raise errors.bad_param(
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        payload = _SIGNATURE.sub("", request.query_string) + _SIGNATURE.sub("", body)
        expected = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise errors.signature_invalid()
        self.check_timestamp(params)
        return key

    def _register_routes(self) -> None:
        r = self._routes
        r["GET", "api/v3/ping"] = (self.ping, 1, False)
        r["GET", "api/v3/time"] = (self.time, 1, False)
        r["GET", "api/v3/exchangeInfo"] = (self.exchange_info, 20, False)
        r["GET", "api/v3/depth"] = (self.depth, 5, False)
        r["GET", "api/v3/trades"] = (self.trades, 25, False)
        r["GET", "api/v3/aggTrades"] = (self.agg_trades, 4, False)
        r["GET", "api/v3/klines"] = (self.klines, 2, False)
        r["GET", "api/v3/ticker/24hr"] = (self.ticker_24hr, 2, False)
        r["GET", "api/v3/ticker/price"] = (self.ticker_price, 2, False)
        r["GET", "api/v3/ticker/bookTicker"] = (self.book_ticker, 2, False)
        r["POST", "api/v3/order"] = (self.order_create, 1, True)
        r["POST", "api/v3/order/test"] = (self.order_test, 1, True)
        r["GET", "api/v3/order"] = (self.order_get, 4, True)
        r["DELETE", "api/v3/order"] = (self.order_cancel, 1, True)
        r["DELETE", "api/v3/openOrders"] = (self.open_orders_cancel, 1, True)
        r["GET", "api/v3/openOrders"] = (self.open_orders, 6, True)
        r["GET", "api/v3/allOrders"] = (self.all_orders, 20, True)
        r["GET", "api/v3/myTrades"] = (self.my_trades, 20, True)
        r["GET", "api/v3/account"] = (self.account, 20, True)
        r["GET", "sapi/v1/account/apiRestrictions"] = (self.api_restrictions, 1, True)
        r["GET", "sapi/v1/system/status"] = (self.system_status, 1, False)
        # what ccxt's default binance start-up asks for besides spot: coins, margin pairs and
        # the futures venues' exchangeInfo (the sandbox has no margin or futures markets)
        r["GET", "sapi/v1/capital/config/getall"] = (self.capital_config, 10, True)
        r["GET", "sapi/v1/margin/allPairs"] = (self.margin_pairs, 1, False)
        r["GET", "sapi/v1/margin/isolated/allPairs"] = (self.margin_pairs, 10, False)
        r["GET", "fapi/v1/exchangeInfo"] = (self.empty_exchange_info, 1, False)
        r["GET", "dapi/v1/exchangeInfo"] = (self.empty_exchange_info, 1, False)
        r["GET", "sapi/v1/asset/tradeFee"] = (self.trade_fee, 1, True)
        # the listen-key user data stream (REST half; the stream is /<venue>/stream/ws/<key>)
        r["POST", "api/v3/userDataStream"] = (self.listen_key_create, 2, KEY_ONLY)
        r["PUT", "api/v3/userDataStream"] = (self.listen_key_keepalive, 2, KEY_ONLY)
        r["DELETE", "api/v3/userDataStream"] = (self.listen_key_close, 2, KEY_ONLY)

    # -- public endpoints ------------------------------------------------------------------
    async def ping(self, req: Request) -> dict:
        return {}

    async def time(self, req: Request) -> dict:
        return {"serverTime": self.clock.now_ms()}

    async def system_status(self, req: Request) -> dict:
        return (
            {"status": 1, "msg": "system maintenance"}
            if req.venue.maintenance
            else {"status": 0, "msg": "normal"}
        )

    async def capital_config(self, req: Request) -> list:
        balances = req.venue.exchange.balances(req.key.account_id)
        assets = sorted(
            {a for s in req.venue.symbols.values() for a in (s.spec.base, s.spec.quote)}
        )
        return [_coin_info(a, balances.get(a)) for a in assets]

    async def margin_pairs(self, req: Request) -> list:
        return []  # no margin trading on the sandbox

    async def empty_exchange_info(self, req: Request) -> dict:
        return {
            "timezone": "UTC",
            "serverTime": self.clock.now_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [],
            "exchangeFilters": [],
            "assets": [],
            "symbols": [],
        }

    async def trade_fee(self, req: Request) -> list:
        states = [_symbol(req)] if "symbol" in req.params else list(req.venue.symbols.values())
        return [
            {
                "symbol": s.spec.market_id,
                "makerCommission": fmt(s.instrument.maker_fee),
                "takerCommission": fmt(s.instrument.taker_fee),
            }
            for s in states
        ]

    async def listen_key_create(self, req: Request) -> dict:
        return {"listenKey": self.streams.listen_keys.create(req.venue.name, req.key)}

    async def listen_key_keepalive(self, req: Request) -> dict:
        self.streams.listen_keys.keepalive(req.params.get("listenKey", ""), req.key)
        return {}

    async def listen_key_close(self, req: Request) -> dict:
        await self.streams.close_listen_key(req.params.get("listenKey", ""), req.key)
        return {}

    async def exchange_info(self, req: Request) -> dict:
        symbols = [_symbol_info(s) for s in req.venue.symbols.values()]
        return {
            "timezone": "UTC",
            "serverTime": self.clock.now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    **_interval(self.weights.window_ms),
                    "limit": self.weights.limit,
                },
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    async def depth(self, req: Request) -> dict:
        state = _symbol(req)
        limit = min(int(req.params.get("limit", 100)), 5000)
        book = state.book
        return {
            "lastUpdateId": state.book_seq,
            "bids": [[fmt(p), fmt(q)] for p, q in book.depth(Side.BUY, limit)],
            "asks": [[fmt(p), fmt(q)] for p, q in book.depth(Side.SELL, limit)],
        }

    async def trades(self, req: Request) -> list:
        state = _symbol(req)
        limit = min(int(req.params.get("limit", 500)), 1000)
        return [_trade_json(t) for t in list(state.trades)[-limit:]]

    async def agg_trades(self, req: Request) -> list:
        state = _symbol(req)
        limit = min(int(req.params.get("limit", 500)), 1000)
        trades = list(state.trades)
        if "fromId" in req.params:
            trades = [t for t in trades if t["id"] >= int(req.params["fromId"])][:limit]
        elif "startTime" in req.params or "endTime" in req.params:
            start = int(req.params.get("startTime", 0))
            end = int(req.params.get("endTime", 2**62))
            trades = [t for t in trades if start <= t["time"] <= end][:limit]
        else:
            trades = trades[-limit:]
        return [
            {
                "a": t["id"],
                "p": fmt(t["price"]),
                "q": fmt(t["qty"]),
                "f": t["id"],
                "l": t["id"],
                "T": t["time"],
                "m": t["isBuyerMaker"],
                "M": True,
            }
            for t in trades
        ]

    async def klines(self, req: Request) -> list:
        state = _symbol(req)
        interval = req.params.get("interval", "")
        step = KLINE_INTERVALS_MS.get(interval)
        if step is None:
            raise BinanceError(400, -1120, "Invalid interval.")
        limit = min(int(req.params.get("limit", 500)), 1000)
        start = req.params.get("startTime")
        end = req.params.get("endTime")
        bars = _aggregate(state.bars, step)
        keys = sorted(bars)
        if start is not None:
            keys = [k for k in keys if k >= int(start)]
        if end is not None:
            keys = [k for k in keys if k <= int(end)]
        keys = keys[:limit] if start is not None else keys[-limit:]
        out = []
        for k in keys:
            o, h, low, c, v, q, n, bv, bq = bars[k]
            out.append(
                [
                    k,
                    fmt(o),
                    fmt(h),
                    fmt(low),
                    fmt(c),
                    fmt(v),
                    k + step - 1,
                    fmt(q),
                    n,
                    fmt(bv),
                    fmt(bq),
                    "0",
                ]
            )
        return out

    async def ticker_24hr(self, req: Request):
        if "symbol" in req.params:
            return self._ticker(req.venue, _symbol(req))
        return [self._ticker(req.venue, s) for s in req.venue.symbols.values()]

    def _ticker(self, venue: Venue, state: SymbolState) -> dict:
        now = self.clock.now_ms()
        since = now - 24 * 3600 * 1000
        keys = [k for k in sorted(state.bars) if k >= since - MINUTE_MS]
        bars = [state.bars[k] for k in keys]
        bid, ask = state.book.best_bid(), state.book.best_ask()
        last = state.last_price
        open_ = bars[0][0] if bars else last
        change = last - open_
        volume = sum((b[4] for b in bars), Decimal(0))
        quote = sum((b[5] for b in bars), Decimal(0))
        last_qty = state.trades[-1]["qty"] if state.trades else Decimal(0)
        return {
            "symbol": state.spec.market_id,
            "priceChange": fmt(change),
            "priceChangePercent": f"{(change / open_ * 100):.3f}" if open_ else "0",
            "weightedAvgPrice": fmt(quote / volume) if volume else fmt(last),
            "prevClosePrice": fmt(open_),
            "lastPrice": fmt(last),
            "lastQty": fmt(last_qty),
            "bidPrice": fmt(bid[0]),
            "bidQty": fmt(bid[1]),
            "askPrice": fmt(ask[0]),
            "askQty": fmt(ask[1]),
            "openPrice": fmt(open_),
            "highPrice": fmt(max((b[1] for b in bars), default=last)),
            "lowPrice": fmt(min((b[2] for b in bars), default=last)),
            "volume": fmt(volume),
            "quoteVolume": fmt(quote),
            "openTime": keys[0] if keys else now,
            "closeTime": now,
            "firstId": state.trades[0]["id"] if state.trades else -1,
            "lastId": state.trade_seq,
            "count": sum(b[6] for b in bars),
        }

    async def ticker_price(self, req: Request):
        states = [_symbol(req)] if "symbol" in req.params else list(req.venue.symbols.values())
        out = [{"symbol": s.spec.market_id, "price": fmt(s.last_price)} for s in states]
        return out[0] if "symbol" in req.params else out

    async def book_ticker(self, req: Request):
        states = [_symbol(req)] if "symbol" in req.params else list(req.venue.symbols.values())
        out = []
        for s in states:
            bid, ask = s.book.best_bid(), s.book.best_ask()
            out.append(
                {
                    "symbol": s.spec.market_id,
                    "bidPrice": fmt(bid[0]),
                    "bidQty": fmt(bid[1]),
                    "askPrice": fmt(ask[0]),
                    "askQty": fmt(ask[1]),
                }
            )
        return out[0] if "symbol" in req.params else out

    # -- signed endpoints ------------------------------------------------------------------
    def _request_from(self, req: Request, state: SymbolState) -> OrderRequest:
        p = req.params
        side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(p.get("side", ""))
        if side is None:
            raise BinanceError(400, -1117, "Invalid side.")
        kind = p.get("type", "")
        if kind not in ORDER_TYPES:
            raise BinanceError(400, -1116, "Invalid orderType.")
        inst = state.instrument
        quote_qty = _decimal(p, "quoteOrderQty") if "quoteOrderQty" in p else None
        qty = _decimal(p, "quantity") if "quantity" in p else Decimal(0)
        if quote_qty is None and qty <= 0:
            raise errors.bad_param(
                "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
            )
        price = stop = None
        tif = TimeInForce.GTC
        if kind in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT"):
            price = self._price_param(p, "price", inst)
            if kind != "LIMIT_MAKER":
                if "timeInForce" not in p:
                    raise errors.bad_param(
                        "Mandatory parameter 'timeInForce' was not sent, was empty/null, "
                        "or malformed."
                    )
                try:
                    tif = TimeInForce(p["timeInForce"])
                except ValueError:
                    raise BinanceError(400, -1115, "Invalid timeInForce.") from None
        if kind in ("STOP_LOSS", "STOP_LOSS_LIMIT"):
            stop = self._price_param(p, "stopPrice", inst)
            bid, ask = state.book.best_bid(), state.book.best_ask()
            touch = ask[0] if side is Side.BUY else bid[0]
            if (touch >= stop) if side is Side.BUY else (touch <= stop):
                raise errors.order_rejected("Stop price would trigger immediately.")
        if quote_qty is None:
            if not inst.qty_on_lot(qty) or qty < Decimal(state.spec.min_qty):
                raise errors.filter_failure("LOT_SIZE")
            reference = price or stop or state.last_price
            if qty * reference < inst.min_notional:
                raise errors.filter_failure("NOTIONAL")
        elif side is not Side.BUY or kind != "MARKET":
            raise errors.bad_param("quoteOrderQty is only supported for MARKET BUY orders here.")
        client_id = p.get("newClientOrderId") or f"sandbox{secrets.token_hex(8)}"
        return OrderRequest(
            client_id,
            state.spec.symbol,
            side,
            ORDER_TYPES[kind],
            qty,
            price,
            stop,
            tif,
            kind == "LIMIT_MAKER",
            quote_qty,
        )

    @staticmethod
    def _price_param(p: dict, name: str, inst) -> Decimal:
        if name not in p:
            raise errors.bad_param(
                f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
            )
        price = _decimal(p, name)
        if price <= 0 or not inst.price_on_tick(price):
            raise errors.filter_failure("PRICE_FILTER")
        return price

    async def order_test(self, req: Request) -> dict:
        self._request_from(req, _symbol(req))
        return {}

    async def order_create(self, req: Request) -> dict:
        if not req.key.can_trade:
            raise errors.trading_not_permitted()
        state = _symbol(req)
        request = self._request_from(req, state)
        order = req.venue.place(req.key.account_id, request)
        if order.status is OrderStatus.REJECTED:
            raise _rejection(order.reason)
        result = self._order_json(req.venue, order)
        result["transactTime"] = order.created_ms
        result["fills"] = [
            {
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "commission": fmt(f.fee),
                "commissionAsset": f.fee_asset,
                "tradeId": req.venue.trade_numbers[f.trade_id],
            }
            for f in req.venue.fills_by_order.get(order.order_id, [])
        ]
        return result

    def _find(self, req: Request) -> Order:
        state = _symbol(req)
        venue, account = req.venue, req.key.account_id
        try:
            if "orderId" in req.params:
                engine_id = venue.order_ids.get(int(req.params["orderId"]))
                if engine_id is None:
                    raise KeyError(engine_id)
                order = venue.exchange.get_order(account, order_id=engine_id)
            elif "origClientOrderId" in req.params:
                order = venue.exchange.get_order(
                    account, client_order_id=req.params["origClientOrderId"]
                )
            else:
                raise errors.bad_param(
                    "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
                )
        except (KeyError, ValueError):
            raise errors.order_does_not_exist() from None
        if order.symbol != state.spec.symbol:
            raise errors.order_does_not_exist()
        return order

    async def order_get(self, req: Request) -> dict:
        return self._order_json(req.venue, self._find(req))

    async def order_cancel(self, req: Request) -> dict:
        if not req.key.can_trade:
            raise errors.trading_not_permitted()
        try:
            order = self._find(req)
        except BinanceError:
            raise errors.unknown_order() from None
        if order.status.is_terminal:
            raise errors.unknown_order()
        order = req.venue.exchange.cancel_order(req.key.account_id, order_id=order.order_id)
        result = self._order_json(req.venue, order)
        result["origClientOrderId"] = order.client_order_id
        result["transactTime"] = self.clock.now_ms()
        return result

    async def open_orders_cancel(self, req: Request) -> list:
        state = _symbol(req)
        orders = req.venue.exchange.cancel_all(req.key.account_id, state.spec.symbol)
        return [self._order_json(req.venue, o) for o in orders]

    async def open_orders(self, req: Request) -> list:
        symbol = _symbol(req).spec.symbol if "symbol" in req.params else None
        orders = req.venue.exchange.open_orders(req.key.account_id, symbol)
        return [self._order_json(req.venue, o) for o in sorted(orders, key=lambda o: o.created_ms)]

    async def all_orders(self, req: Request) -> list:
        state = _symbol(req)
        orders = req.venue.orders_of(req.key.account_id, state.spec.symbol)
        limit = min(int(req.params.get("limit", 500)), 1000)
        return [self._order_json(req.venue, o) for o in orders][-limit:]

    async def my_trades(self, req: Request) -> list:
        state = _symbol(req)
        venue = req.venue
        fills = venue.exchange.fills(req.key.account_id, state.spec.symbol)
        p = req.params
        since = int(p.get("startTime", 0))
        until = int(p.get("endTime", 2**62))
        limit = min(int(p.get("limit", 500)), 1000)
        rows = [
            {
                "symbol": state.spec.market_id,
                "id": venue.trade_numbers[f.trade_id],
                "orderId": venue.order_numbers[f.order_id],
                "orderListId": -1,
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "quoteQty": fmt(f.price * f.qty),
                "commission": fmt(f.fee),
                "commissionAsset": f.fee_asset,
                "time": f.ts,
                "isBuyer": f.side is Side.BUY,
                "isMaker": f.liquidity == "maker",
                "isBestMatch": True,
            }
            for f in fills
            if since <= f.ts <= until
        ]
        if "orderId" in p:
            rows = [r for r in rows if r["orderId"] == int(p["orderId"])]
        if "fromId" in p:
            return [r for r in rows if r["id"] >= int(p["fromId"])][:limit]
        return rows[:limit] if "startTime" in p else rows[-limit:]

    async def account(self, req: Request) -> dict:
        balances = req.venue.exchange.balances(req.key.account_id)
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": "0.00100000",
                "taker": "0.00100000",
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": req.key.can_trade,
            "canWithdraw": req.key.enable_withdrawals,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.clock.now_ms(),
            "accountType": "SPOT",
            "balances": [
                {"asset": b.asset, "free": fmt(b.free), "locked": fmt(b.locked)}
                for b in balances.values()
            ],
            "permissions": ["SPOT"],
            "uid": abs(hash(req.key.account_id)) % 10**9,
        }

    async def api_restrictions(self, req: Request) -> dict:
        key = req.key
        return {
            "ipRestrict": key.ip_restrict,
            "createTime": key.created_ms,
            "enableReading": True,
            "enableWithdrawals": key.enable_withdrawals,
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": False,
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enableFixApiTrade": False,
            "enableFixReadOnly": False,
            "enableSpotAndMarginTrading": key.can_trade,
            "enablePortfolioMarginTrading": False,
        }

    def _order_json(self, venue: Venue, order: Order) -> dict:
        filled = order.filled_qty
        quote = (order.avg_price or Decimal(0)) * filled
        kind = "LIMIT_MAKER" if order.post_only else TYPE_NAMES[order.type]
        stop = order.stop_price
        working = stop is None or venue.exchange.is_triggered(order.order_id)
        return {
            "symbol": order.symbol.replace("/", ""),
            "orderId": venue.order_numbers[order.order_id],
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "price": fmt(order.price or Decimal(0)),
            "origQty": fmt(order.qty),
            "executedQty": fmt(filled),
            "cummulativeQuoteQty": fmt(quote),
            "status": STATUS[order.status],
            "timeInForce": order.tif.value,
            "type": kind,
            "side": order.side.value.upper(),
            "stopPrice": fmt(stop or Decimal(0)),
            "icebergQty": "0.00000000",
            "time": order.created_ms,
            "updateTime": order.updated_ms,
            "isWorking": working,
            "workingTime": order.created_ms,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "NONE",
        }


# -- helpers ---------------------------------------------------------------------------------
def _parse_form(body: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(body, keep_blank_values=True))


def _weight_for(path: str, params: dict, weight: int) -> int:
    if path == "api/v3/depth":
        limit = int(params.get("limit", 100) or 100)
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if path in ("api/v3/ticker/24hr", "api/v3/openOrders") and "symbol" not in params:
        return 80
    if path in ("api/v3/ticker/price", "api/v3/ticker/bookTicker") and "symbol" not in params:
        return 4
    return weight


def _symbol(req: Request) -> SymbolState:
    market_id = req.params.get("symbol")
    if not market_id:
        raise errors.bad_param(
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    state = req.venue.by_market_id.get(market_id)
    if state is None:
        raise errors.invalid_symbol()
    return state


def _decimal(params: dict, name: str) -> Decimal:
    try:
        value = Decimal(params[name])
    except (InvalidOperation, ValueError):
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'.",
        ) from None
    if not value.is_finite():
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.")
    return value


def _rejection(reason: str) -> BinanceError:
    if reason.startswith("insufficient funds"):
        return errors.insufficient_balance()
    if reason.startswith("duplicate client_order_id"):
        return errors.order_rejected("Duplicate order sent.")
    if "post-only" in reason:
        return errors.order_rejected("Order would immediately match and take.")
    if "below minimum notional" in reason:
        return errors.filter_failure("NOTIONAL")
    if "bad precision: quantity" in reason:
        return errors.filter_failure("LOT_SIZE")
    if "bad precision" in reason:
        return errors.filter_failure("PRICE_FILTER")
    if "no reference price" in reason:
        return errors.order_rejected("Market is closed.")
    return errors.order_rejected(reason)


def _trade_json(t: dict) -> dict:
    return {
        "id": t["id"],
        "price": fmt(t["price"]),
        "qty": fmt(t["qty"]),
        "quoteQty": fmt(t["price"] * t["qty"]),
        "time": t["time"],
        "isBuyerMaker": t["isBuyerMaker"],
        "isBestMatch": True,
    }


def _symbol_info(state: SymbolState) -> dict:
    spec, inst = state.spec, state.instrument
    return {
        "symbol": spec.market_id,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(inst.tick_size),
                "maxPrice": "1000000.00000000",
                "tickSize": fmt(inst.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": spec.min_qty,
                "maxQty": "9000.00000000",
                "stepSize": fmt(inst.lot_size),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "100.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": spec.min_notional,
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def _interval(window_ms: int) -> dict:
    if window_ms % MINUTE_MS == 0:
        return {"interval": "MINUTE", "intervalNum": window_ms // MINUTE_MS}
    return {"interval": "SECOND", "intervalNum": max(1, window_ms // 1000)}


def _coin_info(asset: str, balance) -> dict:
    free = balance.free if balance is not None else Decimal(0)
    locked = balance.locked if balance is not None else Decimal(0)
    return {
        "coin": asset,
        "name": asset,
        "depositAllEnable": True,
        "withdrawAllEnable": False,
        "free": fmt(free),
        "locked": fmt(locked),
        "freeze": "0",
        "withdrawing": "0",
        "ipoing": "0",
        "ipoable": "0",
        "storage": "0",
        "isLegalMoney": False,
        "trading": True,
        "networkList": [
            {
                "network": "SANDBOX",
                "coin": asset,
                "withdrawIntegerMultiple": "0.00000001",
                "isDefault": True,
                "depositEnable": True,
                "withdrawEnable": False,
                "depositDesc": "",
                "withdrawDesc": "Withdrawals are not offered on the sandbox.",
                "name": "Sandbox ledger",
                "resetAddressStatus": False,
                "addressRegex": "",
                "memoRegex": "",
                "withdrawFee": "0",
                "withdrawMin": "0",
                "withdrawMax": "0",
                "minConfirm": 1,
                "unLockConfirm": 0,
                "sameAddress": False,
                "busy": False,
            }
        ],
    }


def _aggregate(bars: dict[int, list], step: int) -> dict[int, list]:
    """Roll 1m bars up to `step` (aligned to the epoch, so 1d bars open at 00:00 UTC)."""
    if step == MINUTE_MS:
        return bars
    out: dict[int, list] = {}
    for ts in sorted(bars):
        o, h, low, c, v, q, n, bv, bq = bars[ts]
        key = ts - ts % step
        agg = out.get(key)
        if agg is None:
            out[key] = [o, h, low, c, v, q, n, bv, bq]
        else:
            agg[1] = max(agg[1], h)
            agg[2] = min(agg[2], low)
            agg[3] = c
            agg[4] += v
            agg[5] += q
            agg[6] += n
            agg[7] += bv
            agg[8] += bq
    return out
