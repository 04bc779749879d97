"""Cross-venue strategies: cross-exchange market making, spatial and triangular arbitrage.

Profitability is always net of both venues' fees, of the book-walk slippage for the actual
size, and of a latency buffer (a fraction kept in reserve for the prices moving while orders
travel). Nothing is sent below `min_profitability`.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from tradecore.domain import Instrument, OrderType, Side, TimeInForce
from tradecore.intents import OrderIntent, Quote, QuoteIntent
from tradecore.orderbook import OrderBook
from tradecore.strategies.base import NO_INTENTS, ConfigError, Strategy, StrategyConfig, param


@dataclasses.dataclass(frozen=True)
class CrossExchangeMarketMakingConfig(StrategyConfig):
    """Quote on the maker venue at prices that stay profitable after hedging on the taker."""

    maker_venue: str = param("maker", "Venue where quotes rest")
    taker_venue: str = param("taker", "Venue where fills are hedged")
    order_amount: Decimal = param(Decimal("0.01"), "Base size per quote", exclusive_minimum=0)
    min_profitability: Decimal = param(Decimal("0.003"), "Minimum net edge (fraction)", minimum=0)
    latency_buffer: Decimal = param(Decimal("0.0005"), "Edge reserved for latency", minimum=0)
    order_refresh_tolerance: Decimal = param(Decimal("0.0005"), "Keep quotes that moved less",
                                             minimum=0)  # fmt: skip

    def validate(self) -> None:
        if self.maker_venue == self.taker_venue:
            raise ConfigError("taker_venue", "must differ from maker_venue")


class CrossExchangeMarketMakingStrategy(Strategy):
    """Maker bid = taker's walked bid for the size, less both fees and the required edge;
    maker ask likewise from the taker's walked ask. A maker fill is hedged at once on the
    taker venue with a market order of the same size."""

    strategy_id = "cross_exchange_market_making"
    config_class = CrossExchangeMarketMakingConfig

    def on_book(self, symbol: str, book: OrderBook, venue: str = ""):
        if symbol != self.symbol:
            return NO_INTENTS
        quotes = self.quotes()
        if quotes is None:
            return NO_INTENTS
        c = self.config
        return (
            QuoteIntent(
                symbol, quotes, venue=c.maker_venue, refresh_tolerance=c.order_refresh_tolerance
            ),
        )

    def quotes(self) -> tuple[Quote, ...] | None:
        c = self.config
        taker_book = self.ctx.book(self.symbol, c.taker_venue)
        if taker_book is None:
            return None
        maker = self.ctx.instrument(self.symbol, c.maker_venue)
        taker = self.ctx.instrument(self.symbol, c.taker_venue)
        edge = 1 + c.min_profitability + c.latency_buffer
        qty = maker.round_qty(c.order_amount)
        quotes = []
        # A quote must rest: a profitable price that would cross the maker venue's book is
        # moved one tick inside it (a lower bid / higher ask only widens the edge).
        maker_book = self.ctx.book(self.symbol, c.maker_venue)
        maker_ask = maker_book.best_ask() if maker_book is not None else None
        maker_bid = maker_book.best_bid() if maker_book is not None else None
        hedge_sell = taker_book.average_fill_price(Side.SELL, qty)
        if hedge_sell is not None:
            bid = hedge_sell * (1 - taker.taker_fee) / (1 + maker.maker_fee) / edge
            if maker_ask is not None and bid >= maker_ask[0]:
                bid = maker_ask[0] - maker.tick_size
            if bid > 0:
                quotes.append(Quote(Side.BUY, maker.round_price(bid, Side.BUY), qty))
        hedge_buy = taker_book.average_fill_price(Side.BUY, qty)
        if hedge_buy is not None:
            ask = hedge_buy * (1 + taker.taker_fee) / (1 - maker.maker_fee) * edge
            if maker_bid is not None and ask <= maker_bid[0]:
                ask = maker_bid[0] + maker.tick_size
            quotes.append(Quote(Side.SELL, maker.round_price(ask, Side.SELL), qty))
        return tuple(quotes)

    def on_fill(self, fill):
        c = self.config
        if fill.venue != c.maker_venue or fill.symbol != self.symbol:
            return NO_INTENTS
        return (
            OrderIntent(self.symbol, fill.side.opposite, OrderType.MARKET, fill.qty,
                        venue=c.taker_venue, tag="hedge"),
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SpatialArbitrageConfig(StrategyConfig):
    """Buy on the cheaper venue and sell on the dearer one at the same time."""

    venue_a: str = param("a", "First venue")
    venue_b: str = param("b", "Second venue")
    order_amount: Decimal = param(Decimal("0.01"), "Base size per arbitrage", exclusive_minimum=0)
    min_profitability: Decimal = param(Decimal("0.002"), "Minimum net edge (fraction)", minimum=0)
    latency_buffer: Decimal = param(Decimal("0.0005"), "Edge reserved for latency", minimum=0)
    cooldown_ms: int = param(1_000, "Pause between arbitrages", minimum=0)

    def validate(self) -> None:
        if self.venue_a == self.venue_b:
            raise ConfigError("venue_b", "must differ from venue_a")


class SpatialArbitrageStrategy(Strategy):
    """Act when the walked ask on one venue plus fees is below the walked bid on the other
    minus fees by at least min_profitability + latency_buffer; both legs are IOC limits at
    the walked worst price, so slippage beyond the book walk cannot happen."""

    strategy_id = "spatial_arbitrage"
    config_class = SpatialArbitrageConfig

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self._next_allowed = 0

    def on_book(self, symbol: str, book: OrderBook, venue: str = ""):
        if symbol != self.symbol or self.ctx.now_ms() < self._next_allowed:
            return NO_INTENTS
        c = self.config
        for buy_venue, sell_venue in ((c.venue_a, c.venue_b), (c.venue_b, c.venue_a)):
            intents = self.opportunity(buy_venue, sell_venue)
            if intents:
                self._next_allowed = self.ctx.now_ms() + c.cooldown_ms
                return intents
        return NO_INTENTS

    def edge(self, buy_venue: str, sell_venue: str, qty: Decimal):
        """Net edge (fraction) of buying `qty` on buy_venue and selling on sell_venue."""
        buy_book = self.ctx.book(self.symbol, buy_venue)
        sell_book = self.ctx.book(self.symbol, sell_venue)
        if buy_book is None or sell_book is None:
            return None
        cost = buy_book.average_fill_price(Side.BUY, qty)
        proceeds = sell_book.average_fill_price(Side.SELL, qty)
        if cost is None or proceeds is None:
            return None
        buy_fee = self.ctx.instrument(self.symbol, buy_venue).taker_fee
        sell_fee = self.ctx.instrument(self.symbol, sell_venue).taker_fee
        return proceeds * (1 - sell_fee) / (cost * (1 + buy_fee)) - 1

    def opportunity(self, buy_venue: str, sell_venue: str):
        c = self.config
        buy_inst = self.ctx.instrument(self.symbol, buy_venue)
        qty = buy_inst.round_qty(min(c.order_amount, self.ctx.free(buy_inst.base, sell_venue)))
        if qty <= 0:
            return NO_INTENTS
        edge = self.edge(buy_venue, sell_venue, qty)
        if edge is None or edge < c.min_profitability + c.latency_buffer:
            return NO_INTENTS
        worst_ask = self.ctx.book(self.symbol, buy_venue).walk(Side.BUY, qty)[-1][0]
        worst_bid = self.ctx.book(self.symbol, sell_venue).walk(Side.SELL, qty)[-1][0]
        need = worst_ask * qty * (1 + buy_inst.taker_fee)
        if self.ctx.free(buy_inst.quote, buy_venue) < need:
            return NO_INTENTS
        return (
            OrderIntent(self.symbol, Side.BUY, OrderType.LIMIT, qty, worst_ask,
                        tif=TimeInForce.IOC, venue=buy_venue, tag="arb-buy"),
            OrderIntent(self.symbol, Side.SELL, OrderType.LIMIT, qty, worst_bid,
                        tif=TimeInForce.IOC, venue=sell_venue, tag="arb-sell"),
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class TriangularArbitrageConfig(StrategyConfig):
    """Three legs on one venue, e.g. USDT -> BTC -> ETH -> USDT, fees included."""

    first_symbol: str = param("BTC-USDT", "Leg 1: the bridge asset against the home asset")
    second_symbol: str = param("ETH-BTC", "Leg 2: the target asset against the bridge asset")
    third_symbol: str = param("ETH-USDT", "Leg 3: the target asset against the home asset")
    start_amount: Decimal = param(Decimal("100"), "Home-asset amount per cycle",
                                  exclusive_minimum=0)  # fmt: skip
    min_profitability: Decimal = param(Decimal("0.001"), "Minimum net edge (fraction)", minimum=0)
    cooldown_ms: int = param(1_000, "Pause between cycles", minimum=0)


class TriangularArbitrageStrategy(Strategy):
    """Checks both directions of the triangle on every book update, walking each book for
    the size the previous leg yields; sends the three legs in order as IOC limits."""

    strategy_id = "triangular_arbitrage"
    config_class = TriangularArbitrageConfig

    def __init__(self, config=None, *, symbol: str | None = None) -> None:
        super().__init__(config, symbol=symbol or "")
        self.symbol = self.config.first_symbol
        self._next_allowed = 0

    def on_book(self, symbol: str, book: OrderBook, venue: str = ""):
        c = self.config
        if symbol not in (c.first_symbol, c.second_symbol, c.third_symbol):
            return NO_INTENTS
        if self.ctx.now_ms() < self._next_allowed:
            return NO_INTENTS
        for plan in (self.forward(), self.backward()):
            if plan is not None and plan[0] >= c.min_profitability:
                self._next_allowed = self.ctx.now_ms() + c.cooldown_ms
                return plan[1]
        return NO_INTENTS

    def _leg(self, symbol: str, side: Side, amount_in: Decimal):
        """Walk one leg: spend quote (BUY) or sell base (SELL); return (out, intent)."""
        book = self.ctx.book(symbol)
        inst: Instrument = self.ctx.instrument(symbol)
        if book is None:
            return None
        if side is Side.BUY:
            best = book.best_ask()
            if best is None:
                return None
            qty = inst.round_qty(amount_in / (best[0] * (1 + inst.taker_fee)))
            walk = book.walk(Side.BUY, qty)
            filled = sum((q for _, q in walk), Decimal(0))
            if qty <= 0 or filled < qty:
                return None
            cost = sum((p * q for p, q in walk), Decimal(0)) * (1 + inst.taker_fee)
            if cost > amount_in:  # the walk got dearer than the touch: shrink to fit
                qty = inst.round_qty(qty * amount_in / cost)
                walk = book.walk(Side.BUY, qty)
            out, limit = qty, walk[-1][0]
        else:
            qty = inst.round_qty(amount_in)
            walk = book.walk(Side.SELL, qty)
            if qty <= 0 or sum((q for _, q in walk), Decimal(0)) < qty:
                return None
            out = sum((p * q for p, q in walk), Decimal(0)) * (1 - inst.taker_fee)
            limit = walk[-1][0]
        intent = OrderIntent(symbol, side, OrderType.LIMIT, qty, limit, tif=TimeInForce.IOC,
                             tag="triangle")  # fmt: skip
        return out, intent

    def _cycle(self, legs):
        amount = self.config.start_amount
        intents = []
        for symbol, side in legs:
            leg = self._leg(symbol, side, amount)
            if leg is None:
                return None
            amount, intent = leg
            intents.append(intent)
        return amount / self.config.start_amount - 1, tuple(intents)

    def forward(self):
        """home -> bridge -> target -> home: buy leg 1, buy leg 2, sell leg 3."""
        c = self.config
        return self._cycle(((c.first_symbol, Side.BUY), (c.second_symbol, Side.BUY),
                            (c.third_symbol, Side.SELL)))  # fmt: skip

    def backward(self):
        """home -> target -> bridge -> home: buy leg 3, sell leg 2, sell leg 1."""
        c = self.config
        return self._cycle(((c.third_symbol, Side.BUY), (c.second_symbol, Side.SELL),
                            (c.first_symbol, Side.SELL)))  # fmt: skip
