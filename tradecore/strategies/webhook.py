"""A bot that trades on alerts posted to it from outside (TradingView-style signal webhooks).

The platform authenticates an alert and hands it to the running bot as `on_signal(action, qty)`;
this strategy turns it into at most one market order, long-only spot like the other signal
strategies: `buy` spends the alert's size (base units) or a fraction of free quote, `sell` sells
the alert's size (at most what is held), `close` sells everything held. What it did with each
alert, and why it did nothing when it did nothing, is kept in `last_outcome` for the bot's log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal

from tradecore.domain import OrderType, Side
from tradecore.intents import Intent, OrderIntent
from tradecore.strategies.base import NO_INTENTS, Strategy, StrategyConfig, param

ACTIONS = ("buy", "sell", "close")


def _plain(value: Decimal) -> str:
    """0.01000 as 0.01, 5E+3 as 5000: amounts as people write them."""
    return format(value.normalize(), "f")


@dataclasses.dataclass(frozen=True)
class WebhookSignalConfig(StrategyConfig):
    """Trade on alerts posted to the bot's webhook URL (TradingView alerts and the like)."""

    allocation: float = param(
        1.0,
        "Fraction of free quote a buy alert without a size spends",
        exclusive_minimum=0,
        maximum=1,
    )
    max_qty: Decimal = param(
        Decimal(0), "Largest base quantity one alert may trade (0 = no limit)", minimum=0
    )


class WebhookSignalStrategy(Strategy):
    """Signal webhook: buys, sells or closes on each alert posted to the bot's secret URL.

    An alert is JSON: `action` (buy, sell or close), `symbol` (the bot's market), an optional
    `size` in base units and a `time` (TradingView's {{timenow}}), checked by the platform."""

    strategy_id = "webhook_signal"
    config_class = WebhookSignalConfig

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self.last_outcome = ""
        self.alerts = 0

    def on_signal(self, action: str, qty: Decimal | None) -> Sequence[Intent]:
        self.alerts += 1
        intents, self.last_outcome = self._plan(action, qty)
        return intents

    def _plan(self, action: str, qty: Decimal | None) -> tuple[Sequence[Intent], str]:
        ctx = self.ctx
        if ctx is None:
            return NO_INTENTS, "not started"
        if action not in ACTIONS:
            return NO_INTENTS, f"unknown action {action!r}"
        inst = ctx.instrument(self.symbol)
        cap = self.config.max_qty
        if qty is not None and qty <= 0:
            return NO_INTENTS, "size must be positive"
        if ctx.open_orders(self.symbol):
            return NO_INTENTS, "an earlier order is still open"
        if action == "buy":
            return self._buy(inst, qty, cap)
        held = inst.round_qty(ctx.position(self.symbol))
        if held <= 0:
            return NO_INTENTS, f"nothing to {action}: no {inst.base} held"
        amount = held if action == "close" or qty is None else min(inst.round_qty(qty), held)
        if cap and amount > cap:
            amount = inst.round_qty(cap)
        if amount <= 0:
            return NO_INTENTS, f"size rounds to zero at {inst.base}'s step"
        order = OrderIntent(
            symbol=self.symbol,
            side=Side.SELL,
            type=OrderType.MARKET,
            qty=amount,
            reduces_position=True,
            tag=f"webhook-{action}",
        )
        return (order,), f"{action}: market sell {_plain(amount)} {inst.base}"

    def _buy(self, inst, qty: Decimal | None, cap: Decimal) -> tuple[Sequence[Intent], str]:
        ctx = self.ctx
        assert ctx is not None
        if qty is not None:
            amount = inst.round_qty(min(qty, cap) if cap else qty)
            if amount <= 0:
                return NO_INTENTS, f"size rounds to zero at {inst.base}'s step"
            order = OrderIntent(
                symbol=self.symbol,
                side=Side.BUY,
                type=OrderType.MARKET,
                qty=amount,
                tag="webhook-buy",
            )
            return (order,), f"buy: market buy {_plain(amount)} {inst.base}"
        cash = ctx.free(inst.quote) * Decimal(repr(self.config.allocation))
        if cap:
            price = ctx.last_price(self.symbol)
            if price is None:
                return NO_INTENTS, "no price yet to cap the buy at the largest quantity"
            cash = min(cash, cap * price)
        if cash <= 0:
            return NO_INTENTS, f"no free {inst.quote} to buy with"
        order = OrderIntent(
            symbol=self.symbol,
            side=Side.BUY,
            type=OrderType.MARKET,
            quote_qty=cash,
            tag="webhook-buy",
        )
        return (order,), f"buy: market buy for {_plain(cash)} {inst.quote}"

    def snapshot(self) -> dict:
        return {"alerts": self.alerts}

    def restore(self, state: dict) -> None:
        self.alerts = int(state.get("alerts", 0))
