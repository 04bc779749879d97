"""Pre-trade checks and portfolio guards. A denial or a trip is an event with a reason."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from tradecore.domain import Denial, Side
from tradecore.intents import OrderIntent

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits for one bot. None disables a rule; fractions are 0..1 (0.05 = 5%).

    `budget` is the quote amount the bot manages; exposure (position value plus the order)
    may not exceed `max_exposure_fraction` of it (half by default).
    """

    budget: Decimal | None = None
    max_exposure_fraction: Decimal = Decimal("0.5")
    max_order_qty: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position_qty: Decimal | None = None
    price_band_fraction: Decimal | None = None
    max_open_orders: int | None = None
    max_orders_per_minute: int | None = None
    stop_loss_fraction: Decimal | None = None
    take_profit_fraction: Decimal | None = None
    trailing_stop_fraction: Decimal | None = None
    max_drawdown_fraction: Decimal | None = None
    daily_loss_limit: Decimal | None = None  # quote amount


@dataclass(frozen=True, slots=True)
class RiskView:
    """The facts a pre-trade check needs, gathered by the order manager."""

    now_ms: int
    mid: Decimal | None
    position_qty: Decimal
    open_orders: int


@dataclass(frozen=True, slots=True)
class GuardTrip:
    """A portfolio guard fired. action is 'flatten' (close the position) or 'halt' (kill)."""

    rule: str
    reason: str
    action: str
    ts: int


class RiskManager:
    """Checks intents before they reach a venue and watches the portfolio between events."""

    def __init__(self, limits: RiskLimits | None = None) -> None:
        self.limits = limits or RiskLimits()
        self.halted = False
        self.halt_reason = ""
        self._sent: deque[int] = deque()
        self._peak_equity: Decimal | None = None
        self._peak_mark: Decimal | None = None
        self._day: int | None = None
        self._day_start_equity: Decimal | None = None

    # -- pre-trade -------------------------------------------------------------------------
    def check(self, intent: OrderIntent, view: RiskView) -> Denial | None:
        """Return a Denial naming the rule, or None when the intent may go out."""
        for rule in (
            self._kill_switch,
            self._order_size,
            self._order_notional,
            self._position,
            self._exposure,
            self._price_band,
            self._open_orders,
            self._order_rate,
        ):
            reason = rule(intent, view)
            if reason:
                return Denial(rule.__name__.lstrip("_"), reason, ts=view.now_ms)
        self._sent.append(view.now_ms)
        return None

    def _kill_switch(self, intent, view) -> str:
        if self.halted and not intent.reduces_position:
            return f"trading halted: {self.halt_reason}"
        return ""

    def _price(self, intent: OrderIntent, view: RiskView) -> Decimal | None:
        return intent.price or intent.stop_price or view.mid

    def _order_size(self, intent, view) -> str:
        cap = self.limits.max_order_qty
        if cap is not None and intent.qty > cap:
            return f"order quantity {intent.qty} exceeds max {cap}"
        return ""

    def _notional(self, intent, view) -> Decimal | None:
        if intent.quote_qty is not None:
            return intent.quote_qty
        price = self._price(intent, view)
        return None if price is None else intent.qty * price

    def _order_notional(self, intent, view) -> str:
        cap = self.limits.max_order_notional
        notional = self._notional(intent, view)
        if cap is not None and notional is not None and notional > cap:
            return f"order notional {notional} exceeds max {cap}"
        return ""

    def _position(self, intent, view) -> str:
        cap = self.limits.max_position_qty
        if cap is None or intent.side is not Side.BUY or intent.quote_qty is not None:
            return ""
        if view.position_qty + intent.qty > cap:
            return f"position would reach {view.position_qty + intent.qty}, max {cap}"
        return ""

    def _exposure(self, intent, view) -> str:
        budget = self.limits.budget
        if budget is None or intent.side is not Side.BUY:
            return ""
        notional = self._notional(intent, view)
        if notional is None or view.mid is None:
            return ""
        exposure = view.position_qty * view.mid + notional
        cap = budget * self.limits.max_exposure_fraction
        if exposure > cap:
            return f"exposure would be {exposure:.2f}, max {cap:.2f} of budget {budget}"
        return ""

    def _price_band(self, intent, view) -> str:
        band = self.limits.price_band_fraction
        if band is None or intent.price is None or view.mid is None:
            return ""
        if abs(intent.price - view.mid) > view.mid * band:
            return f"price {intent.price} outside {band:%} band around mid {view.mid}"
        return ""

    def _open_orders(self, intent, view) -> str:
        cap = self.limits.max_open_orders
        if cap is not None and view.open_orders >= cap:
            return f"{view.open_orders} open orders, max {cap}"
        return ""

    def _order_rate(self, intent, view) -> str:
        cap = self.limits.max_orders_per_minute
        if cap is None:
            return ""
        while self._sent and self._sent[0] <= view.now_ms - 60_000:
            self._sent.popleft()
        if len(self._sent) >= cap:
            return f"order rate limit: {cap} orders per minute reached"
        return ""

    # -- portfolio guards ------------------------------------------------------------------
    def evaluate(
        self,
        now_ms: int,
        equity: Decimal,
        position_qty: Decimal,
        avg_entry: Decimal,
        mark: Decimal,
    ) -> list[GuardTrip]:
        """Check the guards against the portfolio now; return the trips (and halt on 'halt')."""
        trips: list[GuardTrip] = []
        limits = self.limits
        if position_qty > 0 and avg_entry > 0:
            self._peak_mark = mark if self._peak_mark is None else max(self._peak_mark, mark)
            if limits.stop_loss_fraction is not None and mark <= avg_entry * (
                1 - limits.stop_loss_fraction
            ):
                trips.append(
                    GuardTrip("stop_loss", f"mark {mark} hit stop loss", "flatten", now_ms)
                )
            elif limits.take_profit_fraction is not None and mark >= avg_entry * (
                1 + limits.take_profit_fraction
            ):
                trips.append(
                    GuardTrip("take_profit", f"mark {mark} hit take profit", "flatten", now_ms)
                )
            elif limits.trailing_stop_fraction is not None and mark <= self._peak_mark * (
                1 - limits.trailing_stop_fraction
            ):
                trips.append(
                    GuardTrip(
                        "trailing_stop",
                        f"mark {mark} fell {limits.trailing_stop_fraction:%} from peak "
                        f"{self._peak_mark}",
                        "flatten",
                        now_ms,
                    )
                )
        else:
            self._peak_mark = None
        trips.extend(self._equity_guards(now_ms, equity))
        for trip in trips:
            if trip.action == "halt":
                self.kill(trip.reason)
        return trips

    def _equity_guards(self, now_ms: int, equity: Decimal) -> list[GuardTrip]:
        trips = []
        limits = self.limits
        self._peak_equity = equity if self._peak_equity is None else max(self._peak_equity, equity)
        day = now_ms // DAY_MS
        if day != self._day:
            self._day, self._day_start_equity = day, equity
        cap = limits.max_drawdown_fraction
        if cap is not None and equity <= self._peak_equity * (1 - cap):
            trips.append(
                GuardTrip(
                    "max_drawdown", f"equity {equity:.2f} is {cap:%} below peak", "halt", now_ms
                )
            )
        loss = self._day_start_equity - equity
        if limits.daily_loss_limit is not None and loss >= limits.daily_loss_limit:
            trips.append(
                GuardTrip(
                    "daily_loss",
                    f"lost {loss:.2f} today, limit {limits.daily_loss_limit}",
                    "halt",
                    now_ms,
                )
            )
        return trips

    def kill(self, reason: str) -> None:
        """Kill switch: halt all new risk until `resume()`; callers cancel open orders."""
        if not self.halted:
            self.halted, self.halt_reason = True, reason

    def resume(self) -> None:
        self.halted, self.halt_reason = False, ""

    def snapshot(self) -> dict:
        return {
            "halted": self.halted,
            "halt_reason": self.halt_reason,
            "peak_equity": None if self._peak_equity is None else str(self._peak_equity),
        }

    def restore(self, state: dict) -> None:
        self.halted, self.halt_reason = state["halted"], state["halt_reason"]
        peak = state.get("peak_equity")
        self._peak_equity = None if peak is None else Decimal(peak)
