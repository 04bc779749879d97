"""Binance spot's account rules over tradecore's matching engine.

tradecore's SimulatedExchange (backtests, paper trading) charges every fee in the quote asset
and locks a buy's price x quantity plus the fee. Binance spot does neither, and the sandbox is
Binance as the unmodified ccxt client sees it, so its venues use this engine instead:

* the fee is charged in the asset received: a buyer pays it in the base asset (the fill
  credits qty - fee), a seller in the quote asset (price x qty - fee);
* a resting buy locks price x quantity (a sell its quantity), never a fee on top;
* a client order id must be unique among the account's open orders only: once an order is
  done its id can be used again, and a lookup by client id finds the newest order with it.

Matching (prices, queue, time in force, stops) is tradecore's, unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from tradecore.domain import ZERO, Fill, Order, OrderStatus, OrderType, Side
from tradecore.exchange import SimulatedExchange
from tradecore.orderbook import OrderBook


class BinanceSpotExchange(SimulatedExchange):
    """SimulatedExchange with Binance spot's fee asset, locking and client id rules."""

    def place_order(self, account_id, request) -> Order:
        key = (account_id, request.client_order_id)
        previous = self._by_client.get(key)
        done = self._orders.get(previous) if previous is not None else None
        if previous is not None and (done is None or done.status.is_terminal):
            # the old order is done: its client id is free again (Binance: unique among open)
            del self._by_client[key]
            order = super().place_order(account_id, request)
            if order.status is OrderStatus.REJECTED:
                self._by_client[key] = previous
            return order
        return super().place_order(account_id, request)

    def is_triggered(self, order_id: str) -> bool:
        """Whether a stop order's stop price has been reached (other orders: always)."""
        return self._orders[order_id].triggered

    def _lock_funds(self, o) -> str:
        inst = self.instruments[o.symbol]
        if o.side is Side.SELL:
            asset, need = inst.base, o.qty
        elif o.quote_qty is not None:
            asset, need = inst.quote, o.quote_qty
        else:
            if o.type is OrderType.STOP:
                price = o.stop_price
            elif o.type is OrderType.MARKET:
                price = self._market_reference(o)
            else:
                price = o.price
            asset, need = inst.quote, o.qty * price
        o.quote_slot = self._slot(o.account_id, inst.quote)
        o.base_slot = self._slot(o.account_id, inst.base)
        slot = o.base_slot if asset == inst.base else o.quote_slot
        if slot[0] < need:
            return f"insufficient funds: need {need} {asset}, free {slot[0]}"
        slot[0] -= need
        slot[1] += need
        o.locked, o.lock_asset, o.lock_slot = need, asset, slot
        return ""

    def _quote_walk_qty(self, o, book: OrderBook) -> Decimal:
        best = book.best_ask()
        return self.instruments[o.symbol].round_qty(o.locked / best[0]) if best else ZERO

    def _fill(self, o, price: Decimal, qty: Decimal, liquidity: str, ts: int) -> Fill | None:
        inst = self.instruments[o.symbol]
        rate = inst.maker_fee if liquidity == "maker" else inst.taker_fee
        if o.quote_qty is not None:
            qty = inst.round_qty(o.locked / price)
            o.qty = qty
        cost = price * qty
        if o.side is Side.BUY:
            quote = o.quote_slot
            available = o.locked + quote[0]
            if cost > available:
                qty = inst.round_qty(available / price)
                cost = price * qty
                o.reason = "insufficient funds at the fill price: sized to fit, rest cancelled"
            if qty <= 0:
                o.reason = o.reason or "nothing affordable at the fill price"
                return None
            fee, fee_asset = qty * rate, inst.base
            from_lock = min(cost, o.locked)
            o.locked -= from_lock
            quote[1] -= from_lock
            quote[0] -= cost - from_lock
            o.base_slot[0] += qty - fee
        else:
            o.base_slot[1] -= qty
            o.locked -= qty
            fee, fee_asset = cost * rate, inst.quote
            o.quote_slot[0] += cost - fee
        return self._record_fill(o, price, qty, cost, fee, fee_asset, liquidity, ts)

    def _snapshot(self, o) -> Order:
        order = super()._snapshot(o)
        inst = self.instruments.get(o.symbol)
        if inst is not None and o.side is Side.BUY and order.fee_asset != inst.base:
            order = replace(order, fee_asset=inst.base)
        return order
