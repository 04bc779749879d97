"""Market makers: pure market making and Avellaneda-Stoikov."""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from decimal import Decimal

from tradecore.domain import Candle, Fill, Instrument, Rounding, Side, Trade
from tradecore.intents import Quote, QuoteIntent
from tradecore.orderbook import OrderBook
from tradecore.strategies.base import (
    NO_INTENTS,
    ConfigError,
    Strategy,
    StrategyConfig,
    param,
)

D0 = Decimal(0)


@dataclasses.dataclass(frozen=True)
class PureMarketMakingConfig(StrategyConfig):
    """Quote a bid and an ask around the mid, refreshed on a timer, with inventory skew."""

    bid_spread: Decimal = param(Decimal("0.001"), "Bid distance below mid (fraction)", minimum=0)
    ask_spread: Decimal = param(Decimal("0.001"), "Ask distance above mid (fraction)", minimum=0)
    order_amount: Decimal = param(Decimal("0.01"), "Base size of level 0", exclusive_minimum=0)
    order_levels: int = param(1, "Orders per side", minimum=1, maximum=50)
    order_level_spread: Decimal = param(
        Decimal("0.001"), "Extra distance per further level (fraction)", minimum=0
    )
    order_level_amount: Decimal = param(Decimal(0), "Extra base size per further level")
    order_refresh_time_ms: int = param(30_000, "Re-quote interval", minimum=0)
    order_refresh_tolerance: Decimal = param(
        Decimal(0), "Keep an order if its price moved less than this (fraction)", minimum=0
    )
    max_order_age_ms: int = param(1_800_000, "Replace orders older than this", minimum=1)
    filled_order_delay_ms: int = param(60_000, "Pause after a fill before re-quoting", minimum=0)
    inventory_skew_enabled: bool = param(False, "Skew sizes towards the target base share")
    inventory_target_base_pct: float = param(
        0.5, "Target base share of value", minimum=0, maximum=1
    )
    inventory_range_multiplier: float = param(
        1.0, "Skew reaches its maximum this many order amounts from target", exclusive_minimum=0
    )
    hanging_orders_enabled: bool = param(False, "Leave the other side resting after a fill")
    ping_pong_enabled: bool = param(False, "After a buy fill quote only the ask, and vice versa")
    minimum_spread: Decimal = param(Decimal(0), "Skip quotes closer to mid than this", minimum=0)
    price_ceiling: Decimal = param(Decimal(0), "No bids when mid is above (0 = off)", minimum=0)
    price_floor: Decimal = param(Decimal(0), "No asks when mid is below (0 = off)", minimum=0)

    def validate(self) -> None:
        if self.order_level_amount < 0 and (
            self.order_amount + self.order_level_amount * (self.order_levels - 1) <= 0
        ):
            raise ConfigError("order_level_amount", "makes the outer levels' size non-positive")
        if self.price_ceiling and self.price_floor and self.price_floor >= self.price_ceiling:
            raise ConfigError("price_floor", "must be below price_ceiling")


class MarketMakerBase(Strategy):
    """Shared plumbing: track the mid from books, trades or candles, re-quote on a timer.

    A book's mid is the better estimate, so once a book has been seen trades no longer move the
    mid; on a feed without books every trade does (the mid follows the market from any feed).
    """

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self.mid: Decimal | None = None
        self._book_seen = False
        self._next_refresh = 0
        self._paused_until = 0

    def on_book(self, symbol: str, book: OrderBook, venue: str = ""):
        if symbol != self.symbol:
            return NO_INTENTS
        mid = book.mid()
        if mid is None:
            return NO_INTENTS
        self._book_seen = True
        self._observe_mid(mid)
        return self._maybe_quote()

    def on_candle(self, symbol: str, candle: Candle):
        if symbol != self.symbol:
            return NO_INTENTS
        self._observe_mid(Decimal(repr(candle.close)))
        return self._maybe_quote()

    def on_trade(self, symbol: str, trade: Trade):
        if symbol != self.symbol:
            return NO_INTENTS
        self._observe_trade(trade)
        if self.mid is None or not self._book_seen:
            self._observe_mid(Decimal(repr(trade.price)))
        return self._maybe_quote()

    def on_timer(self, now_ms: int):
        return self._maybe_quote()

    def _observe_mid(self, mid: Decimal) -> None:
        self.mid = mid

    def _observe_trade(self, trade: Trade) -> None:
        pass

    def _maybe_quote(self):
        now = self.ctx.now_ms()
        if self.mid is None or now < self._next_refresh or now < self._paused_until:
            return NO_INTENTS
        self._next_refresh = now + self.config.order_refresh_time_ms
        return (self.quote_intent(),)

    def quote_intent(self) -> QuoteIntent:
        raise NotImplementedError

    def _inventory(self, inst: Instrument) -> tuple[Decimal, Decimal]:
        base = self.ctx.position(self.symbol)
        quote_total = self.ctx.free(inst.quote) + _locked(self.ctx, inst.quote)
        return base, quote_total

    def snapshot(self) -> dict:
        return {
            "mid": None if self.mid is None else str(self.mid),
            "next_refresh": self._next_refresh,
            "paused_until": self._paused_until,
            "book_seen": self._book_seen,
        }

    def restore(self, state: dict) -> None:
        self.mid = None if state["mid"] is None else Decimal(state["mid"])
        self._next_refresh = state["next_refresh"]
        self._paused_until = state["paused_until"]
        self._book_seen = state.get("book_seen", False)


def _locked(ctx, asset: str) -> Decimal:
    total = getattr(ctx, "total", None)
    return total(asset) - ctx.free(asset) if total else D0


class PureMarketMakingStrategy(MarketMakerBase):
    """Hummingbot-style pure market making on one venue."""

    strategy_id = "pure_market_making"
    config_class = PureMarketMakingConfig

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self._only_side: Side | None = None  # ping-pong
        self._hanging: set[str] = set()
        # {side: {asset, held, needed, levels}}: quotes its holdings did not cover last time
        self.held_back: dict[str, dict] = {}

    def on_fill(self, fill: Fill):
        c = self.config
        self._paused_until = fill.ts + c.filled_order_delay_ms
        self._next_refresh = 0
        if c.ping_pong_enabled:
            self._only_side = fill.side.opposite
        if c.hanging_orders_enabled:
            for order in self.ctx.open_orders(self.symbol):
                if order.side is not fill.side:
                    self._hanging.add(order.client_order_id)
        self._hanging.discard(fill.client_order_id)
        return NO_INTENTS

    def quote_intent(self) -> QuoteIntent:
        c = self.config
        inst = self.ctx.instrument(self.symbol)
        mid = self.mid
        bid_scale, ask_scale = self._skew(inst, mid)
        quotes = []
        for level in range(c.order_levels):
            amount = c.order_amount + c.order_level_amount * level
            extra = c.order_level_spread * level
            for side, spread, scale in (
                (Side.BUY, c.bid_spread + extra, bid_scale),
                (Side.SELL, c.ask_spread + extra, ask_scale),
            ):
                if not self._side_allowed(side, mid) or spread < c.minimum_spread:
                    continue
                factor = 1 - spread if side is Side.BUY else 1 + spread
                price = inst.round_price(mid * factor, side)
                qty = inst.round_qty(amount * scale)
                if qty > 0 and price > 0 and qty * price >= inst.min_notional:
                    quotes.append(Quote(side, price, qty, level))
        quotes = self._affordable(inst, quotes)
        open_ids = {o.client_order_id for o in self.ctx.open_orders(self.symbol)}
        self._hanging &= open_ids
        return QuoteIntent(
            self.symbol,
            tuple(quotes),
            refresh_tolerance=c.order_refresh_tolerance,
            max_order_age_ms=c.max_order_age_ms,
            hanging=frozenset(self._hanging),
        )

    def _affordable(self, inst: Instrument, quotes: list[Quote]) -> list[Quote]:
        """The quotes its holdings cover, level by level: asks up to the base it holds, bids up
        to the quote it holds (what its own resting quotes lock counts: they are replaced).

        A maker started with quote currency only can bid but has nothing to sell: its asks
        are held back, not sent to be refused, and `held_back` says so (the bot page shows it)
        until a bid fills and gives it base to offer."""
        base, quote = self._inventory(inst)
        room = {Side.SELL: base, Side.BUY: quote}
        kept, held_back = [], {}
        for q in sorted(quotes, key=lambda q: q.level):
            need = q.qty if q.side is Side.SELL else q.qty * q.price
            if need <= room[q.side]:
                room[q.side] -= need
                kept.append(q)
                continue
            side = held_back.setdefault(
                q.side.value,
                {
                    "asset": inst.base if q.side is Side.SELL else inst.quote,
                    "held": str(base if q.side is Side.SELL else quote),
                    "needed": str(need),
                    "levels": 0,
                },
            )
            side["levels"] += 1
        self.held_back = held_back
        return kept

    def _side_allowed(self, side: Side, mid: Decimal) -> bool:
        c = self.config
        if self._only_side is not None and side is not self._only_side:
            return False
        if side is Side.BUY and c.price_ceiling and mid > c.price_ceiling:
            return False
        return not (side is Side.SELL and c.price_floor and mid < c.price_floor)

    def _skew(self, inst: Instrument, mid: Decimal) -> tuple[Decimal, Decimal]:
        """Size multipliers: more bid and less ask when base is under target, and vice versa."""
        c = self.config
        if not c.inventory_skew_enabled:
            return Decimal(1), Decimal(1)
        base, quote = self._inventory(inst)
        value = base * mid + quote
        if value <= 0:
            return Decimal(1), Decimal(1)
        target_base = value * Decimal(repr(c.inventory_target_base_pct)) / mid
        band = c.order_amount * c.order_levels * Decimal(repr(c.inventory_range_multiplier))
        skew = max(Decimal(-1), min(Decimal(1), (base - target_base) / band))
        return 1 - skew, 1 + skew

    def snapshot(self) -> dict:
        state = super().snapshot()
        state["only_side"] = None if self._only_side is None else self._only_side.value
        state["hanging"] = sorted(self._hanging)
        state["held_back"] = self.held_back  # for people (the bot page), not for restore
        return state

    def restore(self, state: dict) -> None:
        super().restore(state)
        self._only_side = None if state["only_side"] is None else Side(state["only_side"])
        self._hanging = set(state["hanging"])


@dataclasses.dataclass(frozen=True)
class AvellanedaStoikovConfig(StrategyConfig):
    """Avellaneda-Stoikov: quote around a reservation price that leans against inventory."""

    risk_aversion: float = param(0.1, "gamma: higher means tighter inventory control",
                                 exclusive_minimum=0)  # fmt: skip
    order_amount: Decimal = param(Decimal("0.01"), "Base size per quote", exclusive_minimum=0)
    horizon: str = param("infinite", "finite: spread shrinks towards the session end",
                         choices=("finite", "infinite"))  # fmt: skip
    session_length_ms: int = param(86_400_000, "Length of a finite-horizon session", minimum=1)
    volatility_window: int = param(100, "Mid samples in the volatility estimate", minimum=2)
    intensity_window: int = param(200, "Trades in the order-intensity estimate", minimum=2)
    default_kappa: float = param(1.5, "Intensity decay before trades are seen (per unit price)",
                                 exclusive_minimum=0)  # fmt: skip
    inventory_target_base_pct: float = param(0.5, "Target base share of value", minimum=0,
                                             maximum=1)  # fmt: skip
    min_spread: Decimal = param(Decimal("0.0005"), "Minimum total spread (fraction of mid)",
                                minimum=0)  # fmt: skip
    order_refresh_time_ms: int = param(10_000, "Re-quote interval", minimum=0)


class AvellanedaStoikovStrategy(MarketMakerBase):
    """Reservation price r = s - q*gamma*sigma^2*tau and total spread
    delta = gamma*sigma^2*tau + (2/gamma)*ln(1 + gamma/kappa), quotes at r -/+ delta/2.

    s is the mid; q the inventory away from target in order amounts; sigma^2 the variance of
    mid changes per sample (estimated over `volatility_window`); kappa the decay of trade
    intensity with distance from the mid, estimated from trades as 1 / mean |price - mid|
    (the exponential MLE). tau is the remaining fraction of the session for a finite horizon
    and 1 for an infinite horizon (a stationary quote).
    """

    strategy_id = "avellaneda_stoikov"
    config_class = AvellanedaStoikovConfig

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self._mids: deque[float] = deque(maxlen=self.config.volatility_window + 1)
        self._distances: deque[float] = deque(maxlen=self.config.intensity_window)
        self._session_start: int | None = None

    def _observe_mid(self, mid: Decimal) -> None:
        self.mid = mid
        self._mids.append(float(mid))

    def _observe_trade(self, trade: Trade) -> None:
        if self.mid is not None:
            self._distances.append(abs(trade.price - float(self.mid)))

    def variance(self) -> float:
        mids = list(self._mids)
        if len(mids) < 3:
            return 0.0
        changes = [b - a for a, b in zip(mids, mids[1:], strict=False)]
        mean = sum(changes) / len(changes)
        return sum((x - mean) ** 2 for x in changes) / (len(changes) - 1)

    def kappa(self) -> float:
        if len(self._distances) < 2:
            return self.config.default_kappa
        mean = sum(self._distances) / len(self._distances)
        return 1.0 / mean if mean > 0 else self.config.default_kappa

    def tau(self) -> float:
        c = self.config
        if c.horizon == "infinite":
            return 1.0
        now = self.ctx.now_ms()
        if self._session_start is None:
            self._session_start = now
        elapsed = (now - self._session_start) % c.session_length_ms
        return 1.0 - elapsed / c.session_length_ms

    def inventory(self, inst: Instrument) -> float:
        base, quote = self._inventory(inst)
        mid = self.mid
        value = base * mid + quote
        target = value * Decimal(repr(self.config.inventory_target_base_pct)) / mid
        return float((base - target) / self.config.order_amount)

    def prices(self, inst: Instrument) -> tuple[float, float, float]:
        """(reservation price, bid, ask) as floats before rounding to the tick."""
        c = self.config
        s, gamma = float(self.mid), c.risk_aversion
        sigma2, tau, kappa = self.variance(), self.tau(), self.kappa()
        q = self.inventory(inst)
        reservation = s - q * gamma * sigma2 * tau
        spread = gamma * sigma2 * tau + (2.0 / gamma) * math.log(1.0 + gamma / kappa)
        spread = max(spread, float(c.min_spread) * s)
        return reservation, reservation - spread / 2, reservation + spread / 2

    def quote_intent(self) -> QuoteIntent:
        inst = self.ctx.instrument(self.symbol)
        _, bid, ask = self.prices(inst)
        qty = inst.round_qty(self.config.order_amount)
        quotes = []
        mid = float(self.mid)
        if bid > 0:
            bid_price = inst.round_price(Decimal(repr(min(bid, mid))), rounding=Rounding.DOWN)
            quotes.append(Quote(Side.BUY, bid_price, qty))
        ask_price = inst.round_price(Decimal(repr(max(ask, mid))), rounding=Rounding.UP)
        quotes.append(Quote(Side.SELL, ask_price, qty))
        return QuoteIntent(self.symbol, tuple(q for q in quotes if q.qty > 0))

    def snapshot(self) -> dict:
        state = super().snapshot()
        state.update(mids=list(self._mids), distances=list(self._distances),
                     session_start=self._session_start)  # fmt: skip
        return state

    def restore(self, state: dict) -> None:
        super().restore(state)
        self._mids.extend(state["mids"])
        self._distances.extend(state["distances"])
        self._session_start = state["session_start"]
