"""Instruments per exchange and OHLCV candles (NUMERIC, one row per exchange/symbol/tf/bar)."""

from django.db import models

PRICE = {"max_digits": 38, "decimal_places": 18}


class Instrument(models.Model):
    """A market as the exchange's load_markets reports it: precision and limits."""

    exchange = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64)
    base = models.CharField(max_length=32)
    quote = models.CharField(max_length=32)
    price_step = models.DecimalField(null=True, blank=True, **PRICE)
    amount_step = models.DecimalField(null=True, blank=True, **PRICE)
    min_amount = models.DecimalField(null=True, blank=True, **PRICE)
    min_cost = models.DecimalField(null=True, blank=True, **PRICE)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="instrument_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"


class Candle(models.Model):
    """One OHLCV bar; `ts` is the bar's open time (UTC). 1m is collected, longer bars derived."""

    # the bar's identity is its primary key: one index, no sequence (bulk imports twice as fast)
    pk = models.CompositePrimaryKey("exchange", "symbol", "timeframe", "ts")
    exchange = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64)
    timeframe = models.CharField(max_length=8)
    ts = models.DateTimeField()
    open = models.DecimalField(**PRICE)
    high = models.DecimalField(**PRICE)
    low = models.DecimalField(**PRICE)
    close = models.DecimalField(**PRICE)
    volume = models.DecimalField(**PRICE)
    trade_count = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [  # unique per (exchange, symbol, timeframe, ts): the primary key
            models.CheckConstraint(
                condition=models.Q(high__gte=models.F("low")), name="candle_high_gte_low"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.timeframe}@{self.ts:%Y-%m-%d %H:%M}"
