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


class ArbitrageSighting(models.Model):
    """One priced cross-venue or triangular edge in one scan, for one size (in USDT).

    Kept in Postgres rather than a Redis sorted set: the page asks relational questions of the
    last hour (the latest scan for a size; how long earlier edges of the same market, venues and
    size stayed open, grouped by episode), which are one indexed query each here, and the
    history outlives a Redis flush. Rows older than the retention (an hour and five minutes)
    are deleted by the scan that writes new ones. `opened_at` is when the current run of
    positive net edges of this key began (None while the net edge is not positive): the age of
    an open opportunity, and an episode's identity.
    """

    class Kind(models.TextChoices):
        SPATIAL = "spatial", "Cross-exchange"
        TRIANGULAR = "triangular", "Triangular"

    scanned_at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    market = models.CharField(max_length=128)
    buy_exchange = models.CharField(max_length=64)
    sell_exchange = models.CharField(max_length=64)
    size = models.DecimalField(max_digits=38, decimal_places=8)
    quote = models.CharField(max_length=32)
    qty = models.DecimalField(**PRICE)
    buy_price = models.DecimalField(null=True, blank=True, **PRICE)
    sell_price = models.DecimalField(null=True, blank=True, **PRICE)
    cost = models.DecimalField(**PRICE)
    gross_bp = models.DecimalField(max_digits=24, decimal_places=6)
    net_bp = models.DecimalField(max_digits=24, decimal_places=6)
    fee_bp = models.DecimalField(max_digits=24, decimal_places=6)
    net_usdt = models.DecimalField(**PRICE)
    withdrawal_usdt = models.DecimalField(null=True, blank=True, **PRICE)
    fee_source = models.CharField(max_length=16, default="venue")
    opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["size", "scanned_at"], name="arb_sighting_size_scan"),
            models.Index(fields=["scanned_at"], name="arb_sighting_scanned"),
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.buy_exchange}->{self.sell_exchange} {self.net_bp}bp"

    @property
    def base(self) -> str:
        """The asset a cross-venue trade buys and sells (BTC of BTC/USDT)."""
        return self.market.split("/", 1)[0]

    @property
    def price_places(self) -> int:
        """Decimals a price is shown with: cents for a dollar quote, else 8."""
        return 2 if self.quote in ("USDT", "USDC", "USD", "BUSD", "FDUSD") else 8
