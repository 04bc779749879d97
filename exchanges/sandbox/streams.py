"""Binance-style streams for the sandbox: market streams and the private user data stream.

Market streams are served at `/<venue>/stream/ws/<n>` (the path contains "/stream" as Binance's
spot stream host does, which ccxt.pro uses to tell spot from futures). Clients SUBSCRIBE to
`<symbol>@trade`, `@aggTrade`, `@depth[@100ms]`, `@kline_<interval>`, `@ticker`,
`@miniTicker` or `@bookTicker`. Depth diffs follow Binance's sequence rules (U = previous u + 1)
against the REST snapshot's lastUpdateId, so ccxt.pro's order-book sync works unchanged: the
book is followed from the hub's start for every venue and symbol, subscribed or not, so the
first diff a new subscriber gets always continues from the book the REST snapshot reports.

The user data stream (execution reports and account positions) is reached two ways, as on
Binance: the websocket API at `/<venue>/ws-api/v3` with `userDataStream.subscribe.signature`
(what current ccxt.pro uses for spot), or a listen key from `POST /api/v3/userDataStream`
and a connection to `/<venue>/stream/ws/<listenKey>`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections import defaultdict
from decimal import Decimal

from aiohttp import WSMsgType, web

from exchanges.sandbox.errors import BinanceError
from exchanges.sandbox.venue import MINUTE_MS, SymbolState, UserEvent, Venue
from exchanges.sandbox.wire import STATUS, type_name
from tradecore.domain import Side

logger = logging.getLogger(__name__)

LISTEN_KEY_TTL_MS = 60 * 60_000  # Binance: a listen key lapses 60 minutes after its last keepalive
KLINE_INTERVALS_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}
_KLINE = re.compile(r"^([a-z0-9]+)@kline_([0-9a-z]+)$")


def fmt(value) -> str:
    text = format(value, "f")
    return text if "." in text else f"{text}.0"


class ListenKeys:
    """Listen keys of the REST user-data-stream flow: one live key per account and venue."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self._keys: dict[str, tuple[str, str, int]] = {}  # key -> (venue, account, expires)

    def create(self, venue: str, api_key) -> str:
        now = self.clock.now_ms()
        for key, (v, account, expires) in self._keys.items():
            if v == venue and account == api_key.account_id and expires > now:
                self._keys[key] = (v, account, now + LISTEN_KEY_TTL_MS)
                return key  # Binance returns the account's live key, extended
        key = secrets.token_hex(30)
        self._keys[key] = (venue, api_key.account_id, now + LISTEN_KEY_TTL_MS)
        return key

    def _own(self, key: str, api_key) -> tuple[str, str, int]:
        entry = self._keys.get(key)
        if entry is None or entry[1] != api_key.account_id or entry[2] <= self.clock.now_ms():
            raise BinanceError(400, -1125, "This listenKey does not exist.")
        return entry

    def keepalive(self, key: str, api_key) -> None:
        venue, account, _ = self._own(key, api_key)
        self._keys[key] = (venue, account, self.clock.now_ms() + LISTEN_KEY_TTL_MS)

    def close(self, key: str, api_key) -> None:
        self._own(key, api_key)
        del self._keys[key]

    def account(self, venue: str, key: str) -> str | None:
        entry = self._keys.get(key)
        if entry is None or entry[0] != venue or entry[2] <= self.clock.now_ms():
            return None
        return entry[1]


class StreamHub:
    """Connections and their subscriptions; builds each tick's events and sends them."""

    def __init__(self, venues: dict[str, Venue], ticker_fn, *, clock=None, ws_auth=None) -> None:
        self.venues = venues
        self.ticker_fn = ticker_fn
        self.clock = clock
        self.ws_auth = ws_auth  # params -> ApiKey (raises BinanceError), for the websocket API
        self.listen_keys = ListenKeys(clock)
        self.subscribers: dict[str, dict[str, set[web.WebSocketResponse]]] = defaultdict(
            lambda: defaultdict(set)
        )
        # (venue, account) -> {connection: subscriptionId (websocket API) or None (listen key)}
        self.users: dict[tuple[str, str], dict[web.WebSocketResponse, int | None]] = defaultdict(
            dict
        )
        self._listen_conns: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self._subscription_ids = 0
        self._user_wakeup = asyncio.Event()
        self._user_task: asyncio.Task | None = None
        # Every venue's book and tape are followed from now on, subscribed or not: a diff is
        # always relative to the book the previous sequence number stood for, so the first
        # event a new subscriber gets continues the REST snapshot it fetched. (Recording the
        # book only once a venue had a connection lost the first diff after it: a snapshot
        # taken before that tick was followed by a U two past its lastUpdateId, and ccxt.pro
        # raised ChecksumError.)
        self._sent_trade: dict[tuple[str, str], int] = {}
        self._sent_book: dict[tuple[str, str], tuple[int, dict, dict]] = {}
        self._sent_kline: dict[tuple[str, str, str], int] = {}
        for name, venue in venues.items():
            for state in venue.symbols.values():
                self._remember(name, state)

    def _remember(self, venue: str, state: SymbolState) -> None:
        key = (venue, state.spec.market_id)
        self._sent_trade[key] = state.trade_seq
        self._sent_book[key] = (
            state.book_seq,
            dict(state.book.depth(Side.BUY)),
            dict(state.book.depth(Side.SELL)),
        )

    # -- connections -----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        venue = request.match_info["venue"]
        if venue not in self.venues:
            raise web.HTTPNotFound()
        index = request.match_info.get("index", "")
        account = self.listen_keys.account(venue, index) if index else None
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        subs = self.subscribers[venue]
        if account is not None:
            self.users[venue, account][ws] = None
            self._listen_conns[index].add(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    request_body = json.loads(msg.data)
                except json.JSONDecodeError:
                    await ws.send_str(json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}}))
                    continue
                method = request_body.get("method")
                for stream in request_body.get("params") or []:
                    if method == "SUBSCRIBE":
                        subs[stream].add(ws)
                    elif method == "UNSUBSCRIBE":
                        subs[stream].discard(ws)
                await ws.send_str(json.dumps({"result": None, "id": request_body.get("id")}))
        finally:
            for clients in subs.values():
                clients.discard(ws)
            if account is not None:
                self.users[venue, account].pop(ws, None)
                self._listen_conns[index].discard(ws)
        return ws

    async def handle_ws_api(self, request: web.Request) -> web.WebSocketResponse:
        """Binance's websocket API, the part the user data stream needs."""
        venue = request.match_info["venue"]
        if venue not in self.venues:
            raise web.HTTPNotFound()
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        mine: dict[int, str] = {}  # subscriptionId -> account
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    body = json.loads(msg.data)
                except json.JSONDecodeError:
                    body = None
                if not isinstance(body, dict):
                    await ws.send_str(_ws_error(None, BinanceError(400, -1100, "Invalid JSON.")))
                    continue
                try:
                    result = self._ws_api_call(venue, ws, body, mine)
                except BinanceError as exc:
                    await ws.send_str(_ws_error(body.get("id"), exc))
                    continue
                await ws.send_str(
                    json.dumps({"id": body.get("id"), "status": 200, "result": result})
                )
        finally:
            for account in set(mine.values()):
                self.users[venue, account].pop(ws, None)
        return ws

    def _ws_api_call(self, venue: str, ws, body: dict, mine: dict[int, str]):
        method = body.get("method")
        params = body.get("params") or {}
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.clock.now_ms()}
        if method == "userDataStream.subscribe.signature":
            key = self.ws_auth(params)
            if any(a == key.account_id for a in mine.values()):
                raise BinanceError(400, -1211, "This connection is already subscribed.")
            self._subscription_ids += 1
            sid = self._subscription_ids
            mine[sid] = key.account_id
            self.users[venue, key.account_id][ws] = sid
            return {"subscriptionId": sid}
        if method == "userDataStream.unsubscribe":
            sid = params.get("subscriptionId")
            targets = [s for s in mine if sid is None or s == sid]
            for s in targets:
                self.users[venue, mine.pop(s)].pop(ws, None)
            return {}
        raise BinanceError(400, -1020, f"Unsupported method {method!r} on the sandbox.")

    async def close_listen_key(self, key: str, api_key) -> None:
        self.listen_keys.close(key, api_key)
        for ws in list(self._listen_conns.pop(key, ())):
            await ws.send_str(json.dumps({"e": "listenKeyExpired", "E": self.clock.now_ms()}))
            await ws.close()

    # -- user data -------------------------------------------------------------------------
    def notify_user(self) -> None:
        """Account changes are waiting: wake the sender (one task, so order is kept)."""
        self._user_wakeup.set()
        if self._user_task is None or self._user_task.done():
            self._user_task = asyncio.get_running_loop().create_task(self._user_sender())

    async def _user_sender(self) -> None:
        while self._user_wakeup.is_set():
            self._user_wakeup.clear()
            for name, venue in self.venues.items():
                for event in venue.take_user_events():
                    await self._send_user(name, venue, event)

    async def _send_user(self, name: str, venue: Venue, event: UserEvent) -> None:
        connections = self.users.get((name, event.account_id))
        if not connections:
            return
        messages = [_execution_report(venue, event)]
        if event.balances:
            messages.append(
                {
                    "e": "outboundAccountPosition",
                    "E": event.ts,
                    "u": event.ts,
                    "B": [
                        {"a": b.asset, "f": fmt(b.free), "l": fmt(b.locked)} for b in event.balances
                    ],
                }
            )
        for ws, sid in list(connections.items()):
            try:
                for message in messages:
                    wrapped = message if sid is None else {"subscriptionId": sid, "event": message}
                    await ws.send_str(json.dumps(wrapped))
            except (ConnectionResetError, RuntimeError):
                connections.pop(ws, None)

    # -- market streams --------------------------------------------------------------------
    def collect(self, now_ms: int) -> list[tuple[set, str]]:
        """Build this tick's messages (synchronously, so they match the REST state exactly)."""
        out: list[tuple[set, str]] = []
        for venue_name, venue in self.venues.items():
            subs = self.subscribers.get(venue_name) or {}
            for state in venue.symbols.values():
                lower = state.spec.market_id.lower()
                out += self._trades(
                    venue_name,
                    state,
                    subs.get(f"{lower}@trade"),
                    subs.get(f"{lower}@aggTrade"),
                    now_ms,
                )
                depth = (subs.get(f"{lower}@depth@100ms") or set()) | (
                    subs.get(f"{lower}@depth") or set()
                )
                out += self._depth(venue_name, state, depth, now_ms)
                for channel, event in (("ticker", "24hrTicker"), ("miniTicker", "24hrMiniTicker")):
                    clients = subs.get(f"{lower}@{channel}")
                    if clients:
                        message = self._ticker_event(venue, state, now_ms)
                        message["e"] = event
                        out.append((clients, json.dumps(message)))
                book_ticker = subs.get(f"{lower}@bookTicker")
                if book_ticker:
                    out.append((book_ticker, json.dumps(self._book_ticker(state))))
            for stream, clients in subs.items():
                match = _KLINE.match(stream) if clients else None
                if match and match.group(2) in KLINE_INTERVALS_MS:
                    state = venue.by_market_id.get(match.group(1).upper())
                    if state is not None:
                        out += self._klines(venue_name, state, match.group(2), clients, now_ms)
        return out

    async def send(self, messages: list[tuple[set, str]]) -> None:
        for clients, text in messages:
            for ws in list(clients):
                if ws.closed:
                    clients.discard(ws)
                    continue
                try:
                    await ws.send_str(text)
                except (ConnectionResetError, RuntimeError):
                    clients.discard(ws)

    def _trades(self, venue: str, state: SymbolState, clients, agg_clients, now_ms: int):
        key = (venue, state.spec.market_id)
        last = self._sent_trade.get(key, state.trade_seq)
        self._sent_trade[key] = state.trade_seq
        if not clients and not agg_clients:
            return []
        fresh = [t for t in state.trades if t["id"] > last]
        out = []
        for t in fresh:
            body = {
                "s": state.spec.market_id,
                "p": fmt(t["price"]),
                "q": fmt(t["qty"]),
                "T": t["time"],
                "m": t["isBuyerMaker"],
                "M": True,
            }
            if clients:
                out.append((clients, json.dumps({"e": "trade", "E": now_ms, "t": t["id"], **body})))
            if agg_clients:
                # one aggregate trade per trade, as the REST aggTrades answers
                agg = {"e": "aggTrade", "E": now_ms, "a": t["id"], "f": t["id"], "l": t["id"]}
                out.append((agg_clients, json.dumps({**agg, **body})))
        return out

    def _klines(self, venue: str, state: SymbolState, interval: str, clients, now_ms: int):
        """The current bar of `interval` (and, when a new one has opened, the last state of
        the bar before it, closed) as Binance's kline stream sends them."""
        step = KLINE_INTERVALS_MS[interval]
        current = now_ms - now_ms % step
        key = (venue, state.spec.market_id, interval)
        previous = self._sent_kline.get(key)
        self._sent_kline[key] = current
        out = []
        if previous is not None and previous < current:
            bar = _bar(state, previous, step)
            if bar is not None:
                out.append(
                    (
                        clients,
                        json.dumps(
                            _kline_event(state, interval, previous, step, bar, True, now_ms)
                        ),
                    )
                )
        bar = _bar(state, current, step)
        if bar is not None:
            out.append(
                (
                    clients,
                    json.dumps(_kline_event(state, interval, current, step, bar, False, now_ms)),
                )
            )
        return out

    def _depth(self, venue: str, state: SymbolState, clients, now_ms: int):
        key = (venue, state.spec.market_id)
        previous = self._sent_book.get(key)
        if previous is not None and previous[0] == state.book_seq:
            return []
        bids = dict(state.book.depth(Side.BUY))
        asks = dict(state.book.depth(Side.SELL))
        self._sent_book[key] = (state.book_seq, bids, asks)
        if not clients or previous is None:
            return []
        seq, old_bids, old_asks = previous
        event = {
            "e": "depthUpdate",
            "E": now_ms,
            "s": state.spec.market_id,
            "U": seq + 1,
            "u": state.book_seq,
            "b": _diff(old_bids, bids),
            "a": _diff(old_asks, asks),
        }
        return [(clients, json.dumps(event))]

    def _ticker_event(self, venue: Venue, state: SymbolState, now_ms: int) -> dict:
        t = self.ticker_fn(venue, state)
        return {
            "e": "24hrTicker",
            "E": now_ms,
            "s": t["symbol"],
            "p": t["priceChange"],
            "P": t["priceChangePercent"],
            "w": t["weightedAvgPrice"],
            "x": t["prevClosePrice"],
            "c": t["lastPrice"],
            "Q": t["lastQty"],
            "b": t["bidPrice"],
            "B": t["bidQty"],
            "a": t["askPrice"],
            "A": t["askQty"],
            "o": t["openPrice"],
            "h": t["highPrice"],
            "l": t["lowPrice"],
            "v": t["volume"],
            "q": t["quoteVolume"],
            "O": t["openTime"],
            "C": t["closeTime"],
            "F": t["firstId"],
            "L": t["lastId"],
            "n": t["count"],
        }

    def _book_ticker(self, state: SymbolState) -> dict:
        bid, ask = state.book.best_bid(), state.book.best_ask()
        return {
            "u": state.book_seq,
            "s": state.spec.market_id,
            "b": fmt(bid[0]),
            "B": fmt(bid[1]),
            "a": fmt(ask[0]),
            "A": fmt(ask[1]),
        }


def _diff(old: dict, new: dict) -> list[list[str]]:
    changes = [[fmt(p), "0.00000000"] for p in old if p not in new]
    changes += [[fmt(p), fmt(q)] for p, q in new.items() if old.get(p) != q]
    return changes


def _ws_error(request_id, exc: BinanceError) -> str:
    return json.dumps(
        {"id": request_id, "status": exc.status, "error": {"code": exc.code, "msg": exc.msg}}
    )


def _bar(state: SymbolState, start: int, step: int):
    """The bar of `step` ms opening at `start`, rolled up from the 1m bars (None if empty)."""
    out = None
    for ts in range(start, start + step, MINUTE_MS):
        b = state.bars.get(ts)
        if b is None:
            continue
        if out is None:
            out = list(b)
            continue
        out[1] = max(out[1], b[1])
        out[2] = min(out[2], b[2])
        out[3] = b[3]
        for i in (4, 5, 6, 7, 8):
            out[i] += b[i]
    return out


def _kline_event(state, interval, start, step, bar, closed, now_ms) -> dict:
    o, h, low, c, v, q, n, bv, bq = bar
    return {
        "e": "kline",
        "E": now_ms,
        "s": state.spec.market_id,
        "k": {
            "t": start,
            "T": start + step - 1,
            "s": state.spec.market_id,
            "i": interval,
            "f": -1,
            "L": -1,
            "o": fmt(o),
            "c": fmt(c),
            "h": fmt(h),
            "l": fmt(low),
            "v": fmt(v),
            "n": n,
            "x": closed,
            "q": fmt(q),
            "V": fmt(bv),
            "Q": fmt(bq),
            "B": "0",
        },
    }


def _execution_report(venue: Venue, event: UserEvent) -> dict:
    order, fill = event.order, event.fill
    filled = order.filled_qty
    cumulative_quote = (order.avg_price or Decimal(0)) * filled
    trade = fill is not None
    return {
        "e": "executionReport",
        "E": event.ts,
        "s": order.symbol.replace("/", ""),
        "c": order.client_order_id,
        "S": order.side.value.upper(),
        "o": type_name(order),
        "f": order.tif.value,
        "q": fmt(order.qty),
        "p": fmt(order.price or Decimal(0)),
        "P": fmt(order.stop_price or Decimal(0)),
        "F": "0.00000000",
        "g": -1,
        "C": order.client_order_id if event.execution == "CANCELED" else "",
        "x": event.execution,
        "X": STATUS[order.status],
        "r": "NONE",
        "i": venue.order_numbers[order.order_id],
        "l": fmt(fill.qty) if trade else "0.00000000",
        "z": fmt(filled),
        "L": fmt(fill.price) if trade else "0.00000000",
        "n": fmt(fill.fee) if trade else "0",
        "N": fill.fee_asset if trade else None,
        "T": event.ts,
        "t": venue.trade_numbers[fill.trade_id] if trade else -1,
        "I": event.ts,
        "w": order.status.value in ("open", "partially_filled"),
        "m": trade and fill.liquidity == "maker",
        "M": False,
        "O": order.created_ms,
        "Z": fmt(cumulative_quote),
        "Y": fmt(fill.price * fill.qty) if trade else "0.00000000",
        "Q": "0.00000000",
        "W": order.created_ms,
        "V": "NONE",
    }
