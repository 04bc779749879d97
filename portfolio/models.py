"""Portfolio: FIFO ledger checkpoints, per-minute bot performance, exchange account balances.

Fills (trading.Fill) are the source of truth; everything here is derived from them, the bots'
starting funds and the latest marks, and can be rebuilt. Money is NUMERIC.
"""

from __future__ import annotations

from django.db import models

MONEY = {"max_digits": 36, "decimal_places": 18}


class BotLedger(models.Model):
    """A bot's FIFO ledger up to a fill, so each update applies only the fills booked since."""

    bot = models.OneToOneField(
        "trading.Bot", on_delete=models.CASCADE, primary_key=True, related_name="ledger"
    )
    state = models.JSONField(default=dict, blank=True)
    fills_applied = models.PositiveIntegerField(default=0)
    last_executed_at = models.DateTimeField(null=True, blank=True)
    last_fill_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"ledger of bot {self.bot_id} ({self.fills_applied} fills)"


class BotPerformance(models.Model):
    """One bot's value and results at a minute (the equity curve is drawn from these)."""

    bot = models.ForeignKey("trading.Bot", on_delete=models.CASCADE, related_name="performance")
    at = models.DateTimeField()
    valuation_asset = models.CharField(max_length=16)
    total_value = models.DecimalField(**MONEY)
    cash = models.DecimalField(**MONEY)
    crypto = models.DecimalField(**MONEY)
    realized_pnl = models.DecimalField(**MONEY, default=0)
    unrealized_pnl = models.DecimalField(**MONEY, default=0)
    fees = models.DecimalField(**MONEY, default=0, help_text="Fees valued in the valuation asset.")
    trades = models.PositiveIntegerField(default=0)
    winning_trades = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "at"], name="bot_performance_minute_unique")
        ]
        indexes = [models.Index(fields=["bot", "-at"], name="bot_performance_recent_idx")]

    def __str__(self) -> str:
        return f"bot {self.bot_id} at {self.at:%Y-%m-%d %H:%M}: {self.total_value}"


class ExchangeBalance(models.Model):
    """An exchange account's balance of one asset, as the exchange last reported it."""

    account = models.ForeignKey(
        "exchanges.ExchangeAccount", on_delete=models.CASCADE, related_name="balances"
    )
    asset = models.CharField(max_length=16)
    free = models.DecimalField(**MONEY)
    used = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["asset"]
        constraints = [
            models.UniqueConstraint(fields=["account", "asset"], name="exchange_balance_unique")
        ]

    def __str__(self) -> str:
        return f"{self.asset} {self.total} on {self.account_id}"
