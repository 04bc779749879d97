"""Grid trading and dollar-cost averaging."""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from decimal import Decimal

from tradecore.domain import Candle, Fill, OrderStatus, OrderType, Side, Trade
from tradecore.intents import OrderIntent
from tradecore.orderbook import OrderBook
from tradecore.strategies.base import NO_INTENTS, ConfigError, Strategy, StrategyConfig, param


@dataclasses.dataclass(frozen=True)
class GridConfig(StrategyConfig):
    """Resting buys below and sells above the price on evenly spaced levels; each fill is
    answered by the opposite order one level away."""

    lower_price: Decimal = param(Decimal("90"), "Lowest grid level", exclusive_minimum=0)
    upper_price: Decimal = param(Decimal("110"), "Highest grid level", exclusive_minimum=0)
    levels: int = param(11, "Number of grid levels including both ends", minimum=2, maximum=500)
    order_amount: Decimal = param(Decimal("0.01"), "Base size per level", exclusive_minimum=0)
    spacing: str = param("arithmetic", "Level spacing", choices=("arithmetic", "geometric"))

    def validate(self) -> None:
        if self.lower_price >= self.upper_price:
            raise ConfigError("lower_price", "must be below upper_price")


class GridStrategy(Strategy):
    """Grid: a ladder of resting limits; every filled level is answered one level away."""

    strategy_id = "grid"
    config_class = GridConfig

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self.grid: list[Decimal] = []
        self._started = False

    def on_start(self, ctx):
        super().on_start(ctx)
        c = self.config
        inst = ctx.instrument(self.symbol)
        n = c.levels - 1
        if c.spacing == "arithmetic":
            step = (c.upper_price - c.lower_price) / n
            raw = [c.lower_price + step * i for i in range(c.levels)]
        else:
            ratio = (c.upper_price / c.lower_price) ** (Decimal(1) / n)
            raw = [c.lower_price * ratio**i for i in range(c.levels)]
        self.grid = [inst.round_price(p) for p in raw]
        return NO_INTENTS

    def _place(self, side: Side, level: int) -> OrderIntent:
        return OrderIntent(self.symbol, side, OrderType.LIMIT, self.config.order_amount,
                           self.grid[level], tag=f"grid-{level}")  # fmt: skip

    def _first(self, price: Decimal):
        if self._started:
            return NO_INTENTS
        self._started = True
        base = self.ctx.free(self.ctx.instrument(self.symbol).base)
        intents = []
        for level, level_price in enumerate(self.grid):
            if level_price < price:
                intents.append(self._place(Side.BUY, level))
            elif level_price > price and base >= self.config.order_amount:
                base -= self.config.order_amount
                intents.append(self._place(Side.SELL, level))
        return intents

    def on_candle(self, symbol: str, candle: Candle):
        return self._first(Decimal(repr(candle.close))) if symbol == self.symbol else NO_INTENTS

    def on_trade(self, symbol: str, trade: Trade):
        return self._first(Decimal(repr(trade.price))) if symbol == self.symbol else NO_INTENTS

    def on_book(self, symbol: str, book: OrderBook, venue: str = ""):
        mid = book.mid()
        if symbol != self.symbol or mid is None:
            return NO_INTENTS
        return self._first(mid)

    def on_fill(self, fill: Fill):
        if fill.symbol != self.symbol or fill.order_status is not OrderStatus.FILLED:
            return NO_INTENTS  # a partly filled level is answered once it completes
        level = self._level(fill)
        if fill.side is Side.BUY and level + 1 < len(self.grid):
            return (self._place(Side.SELL, level + 1),)
        if fill.side is Side.SELL and level > 0:
            return (self._place(Side.BUY, level - 1),)
        return NO_INTENTS

    def _level(self, fill: Fill) -> int:
        """A buy fills at or below its level's price, a sell at or above it."""
        if fill.side is Side.BUY:
            return bisect_left(self.grid, fill.price)
        return bisect_right(self.grid, fill.price) - 1

    def snapshot(self) -> dict:
        return {"grid": [str(p) for p in self.grid], "started": self._started}

    def restore(self, state: dict) -> None:
        self.grid = [Decimal(p) for p in state["grid"]]
        self._started = state["started"]


@dataclasses.dataclass(frozen=True)
class DcaConfig(StrategyConfig):
    """Buy a fixed quote amount on a schedule; optionally take profit on the whole position."""

    quote_amount: Decimal = param(Decimal("100"), "Quote spent per purchase", exclusive_minimum=0)
    interval_ms: int = param(86_400_000, "Time between purchases", minimum=1)
    max_orders: int = param(0, "Stop after this many purchases (0 = no limit)", minimum=0)
    take_profit: Decimal = param(Decimal(0), "Sell all at this gain over average cost (0 = off)",
                                 minimum=0)  # fmt: skip


class DcaStrategy(Strategy):
    """Dollar-cost averaging: market-buy a fixed quote amount every interval."""

    strategy_id = "dca"
    config_class = DcaConfig

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self.next_buy_ms: int | None = None
        self.purchases = 0
        self.cost = Decimal(0)
        self.qty = Decimal(0)

    def on_candle(self, symbol: str, candle: Candle):
        if symbol != self.symbol:
            return NO_INTENTS
        return self._act(Decimal(repr(candle.close)))

    def on_timer(self, now_ms: int):
        price = self.ctx.last_price(self.symbol)
        return self._act(price) if price is not None else NO_INTENTS

    def _act(self, price: Decimal):
        c = self.config
        now = self.ctx.now_ms()
        if c.take_profit and self.qty > 0 and price >= self.cost / self.qty * (1 + c.take_profit):
            qty = self.ctx.instrument(self.symbol).round_qty(self.ctx.free(self._base()))
            self.cost = self.qty = Decimal(0)
            if qty > 0:
                return (OrderIntent(self.symbol, Side.SELL, OrderType.MARKET, qty,
                                    reduces_position=True, tag="dca-take-profit"),)  # fmt: skip
        if self.next_buy_ms is None:
            self.next_buy_ms = now
        if now < self.next_buy_ms or (c.max_orders and self.purchases >= c.max_orders):
            return NO_INTENTS
        if self.ctx.free(self.ctx.instrument(self.symbol).quote) < c.quote_amount:
            return NO_INTENTS
        self.next_buy_ms += c.interval_ms * ((now - self.next_buy_ms) // c.interval_ms + 1)
        self.purchases += 1
        return (OrderIntent(self.symbol, Side.BUY, OrderType.MARKET, quote_qty=c.quote_amount,
                            tag="dca"),)  # fmt: skip

    def _base(self) -> str:
        return self.ctx.instrument(self.symbol).base

    def on_fill(self, fill: Fill):
        if fill.side is Side.BUY:
            self.cost += fill.price * fill.qty + fill.fee
            self.qty += fill.qty
        return NO_INTENTS

    def snapshot(self) -> dict:
        return {"next_buy_ms": self.next_buy_ms, "purchases": self.purchases,
                "cost": str(self.cost), "qty": str(self.qty)}  # fmt: skip

    def restore(self, state: dict) -> None:
        self.next_buy_ms, self.purchases = state["next_buy_ms"], state["purchases"]
        self.cost, self.qty = Decimal(state["cost"]), Decimal(state["qty"])
