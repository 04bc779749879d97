"""Binance-style market streams for the sandbox: trade, depth (diffs), ticker and bookTicker.

Served at `/<venue>/stream/ws/<n>` (the path contains "/stream" as Binance's spot stream host
does, which ccxt.pro uses to tell spot from futures). Clients SUBSCRIBE to
`<symbol>@trade`, `<symbol>@depth[@100ms]`, `<symbol>@ticker` or `<symbol>@bookTicker`.
Depth diffs follow Binance's sequence rules (U = previous u + 1) against the REST snapshot's
lastUpdateId, so ccxt.pro's order-book sync works unchanged.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict

from aiohttp import WSMsgType, web

from exchanges.sandbox.venue import SymbolState, Venue
from tradecore.domain import Side

logger = logging.getLogger(__name__)


def fmt(value) -> str:
    text = format(value, "f")
    return text if "." in text else f"{text}.0"


class StreamHub:
    """Connections and their subscriptions; builds each tick's events and sends them."""

    def __init__(self, venues: dict[str, Venue], ticker_fn) -> None:
        self.venues = venues
        self.ticker_fn = ticker_fn
        self.subscribers: dict[str, dict[str, set[web.WebSocketResponse]]] = defaultdict(
            lambda: defaultdict(set)
        )
        self._sent_trade: dict[tuple[str, str], int] = {}
        self._sent_book: dict[tuple[str, str], tuple[int, dict, dict]] = {}

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        venue = request.match_info["venue"]
        if venue not in self.venues:
            raise web.HTTPNotFound()
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        subs = self.subscribers[venue]
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
        return ws

    def collect(self, now_ms: int) -> list[tuple[set, str]]:
        """Build this tick's messages (synchronously, so they match the REST state exactly)."""
        out: list[tuple[set, str]] = []
        for venue_name, subs in self.subscribers.items():
            venue = self.venues[venue_name]
            for state in venue.symbols.values():
                lower = state.spec.market_id.lower()
                out += self._trades(venue_name, state, subs.get(f"{lower}@trade"), now_ms)
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

    def _trades(self, venue: str, state: SymbolState, clients, now_ms: int):
        key = (venue, state.spec.market_id)
        last = self._sent_trade.get(key, state.trade_seq)
        self._sent_trade[key] = state.trade_seq
        if not clients:
            return []
        fresh = [t for t in state.trades if t["id"] > last]
        return [
            (
                clients,
                json.dumps(
                    {
                        "e": "trade",
                        "E": now_ms,
                        "s": state.spec.market_id,
                        "t": t["id"],
                        "p": fmt(t["price"]),
                        "q": fmt(t["qty"]),
                        "T": t["time"],
                        "m": t["isBuyerMaker"],
                        "M": True,
                    }
                ),
            )
            for t in fresh
        ]

    def _depth(self, venue: str, state: SymbolState, clients, now_ms: int):
        key = (venue, state.spec.market_id)
        bids = dict(state.book.depth(Side.BUY))
        asks = dict(state.book.depth(Side.SELL))
        previous = self._sent_book.get(key)
        self._sent_book[key] = (state.book_seq, bids, asks)
        if not clients or previous is None or previous[0] == state.book_seq:
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
