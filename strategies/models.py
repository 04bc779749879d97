from django.conf import settings
from django.db import models


class StrategyConfig(models.Model):
    """A user's saved parameters for one catalog strategy, validated against its JSON schema.

    Only `strategies.services.strategy_config_save` writes these, after validation; a bot copies
    the parameters when it is created, so editing a saved config never changes a running bot.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="strategy_configs"
    )
    name = models.CharField(max_length=100)
    strategy = models.CharField(max_length=64, help_text="Catalog id, e.g. pure_market_making.")
    params = models.JSONField(default=dict, blank=True)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="strategy_config_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.strategy})"


class BacktestRun(models.Model):
    """One backtest of a catalog strategy over stored candles, run by a Celery worker.

    Only `strategies.services` writes these: `backtest_run_create` after validating every
    input, the task through `backtest_run_start/progress/finish/fail`. The inputs never change
    after creation; `code_version` and `data_fingerprint` record what produced `results`, so a
    rerun of the same inputs on the same code and candles gives the same results, byte for byte.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # status -> the statuses it may move to (done, failed and cancelled are final)
    TRANSITIONS = {
        Status.QUEUED: {Status.RUNNING, Status.FAILED, Status.CANCELLED},
        Status.RUNNING: {Status.DONE, Status.FAILED, Status.CANCELLED},
        Status.DONE: set(),
        Status.FAILED: set(),
        Status.CANCELLED: set(),
    }
    FINAL = (Status.DONE, Status.FAILED, Status.CANCELLED)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtest_runs"
    )
    strategy = models.CharField(max_length=64, help_text="Catalog id, e.g. sma_cross.")
    params = models.JSONField(default=dict, blank=True, help_text="Validated, defaults filled.")
    exchange = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64, help_text="As the candles store it, e.g. BTC/USDT.")
    timeframe = models.CharField(max_length=8)
    start = models.DateTimeField(help_text="First bar's open time (inclusive).")
    end = models.DateTimeField(help_text="End of the period (exclusive).")
    cash = models.DecimalField(max_digits=38, decimal_places=18, help_text="Starting quote cash.")
    fee_rate = models.DecimalField(
        max_digits=12, decimal_places=10, help_text="Maker and taker fee, a fraction (0.001)."
    )
    slippage_bp = models.DecimalField(
        max_digits=10, decimal_places=4, default=0, help_text="Taker slippage in basis points."
    )

    class DataSource(models.TextChoices):
        CANDLES = "candles", "Candles"
        TRADES = "trades", "Trades"
        BOOK = "book", "Trades and order book"

    class Slippage(models.TextChoices):
        NONE = "none", "None"
        FIXED_BP = "fixed_bp", "Fixed basis points"
        BOOK_WALK = "book_walk", "Book-walk"

    data_source = models.CharField(
        max_length=16, choices=DataSource.choices, default=DataSource.CANDLES,
        help_text="Stored candles, or the data folder's trades (and book).",
    )  # fmt: skip
    slippage_model = models.CharField(
        max_length=16, choices=Slippage.choices, default=Slippage.NONE,
        help_text="none, fixed_bp (slippage_bp worse) or book_walk (walk the book).",
    )  # fmt: skip
    latency_ms = models.PositiveIntegerField(
        default=0, help_text="Milliseconds an order takes to reach the simulated exchange."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    bars_done = models.PositiveIntegerField(default=0)
    bars_total = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True, help_text="Why the run failed, in words.")
    warnings = models.JSONField(default=list, blank=True)
    results = models.JSONField(null=True, blank=True)
    code_version = models.CharField(max_length=100, blank=True)
    data_fingerprint = models.CharField(max_length=64, blank=True, help_text="sha256 of the bars.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="backtest_run_user_recent")]
        constraints = [
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")),
                                   name="backtest_run_end_after_start"),
            models.CheckConstraint(condition=models.Q(cash__gt=0),
                                   name="backtest_run_cash_positive"),
            models.CheckConstraint(condition=models.Q(fee_rate__gte=0, fee_rate__lt=1),
                                   name="backtest_run_fee_fraction"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"backtest {self.pk} {self.strategy} {self.exchange}:{self.symbol} {self.timeframe}"

    @property
    def progress_percent(self) -> int:
        """Bars processed as a whole percentage (100 once done)."""
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.bars_done / self.bars_total) if self.bars_total else 0

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def slippage_label(self) -> str:
        """The slippage model in words: "book-walk", "5 bp fixed" or "none"."""
        if self.slippage_model == self.Slippage.BOOK_WALK:
            return "book-walk"
        if self.slippage_model == self.Slippage.FIXED_BP or self.slippage_bp:
            return f"{self.slippage_bp.normalize():f} bp fixed"
        return "none"

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.Status(self.status)]


class Optimization(models.Model):
    """A parameter search for one signal strategy over stored candles, run by a worker on the
    backtests queue: a grid (a heatmap for two parameters), Optuna's TPE, or a walk-forward
    analysis (rolling in-sample searches, each judged on the out-of-sample bars after it).

    Only `strategies.services` writes these (`optimization_create` after validating every
    input, the task through `optimization_execute`)."""

    class Method(models.TextChoices):
        GRID = "grid", "Grid"
        TPE = "tpe", "Optuna TPE"
        WALK_FORWARD = "walk_forward", "Walk-forward"

    class Objective(models.TextChoices):
        SHARPE = "sharpe", "Sharpe ratio"
        RETURN = "return", "Total return"
        RETURN_DD = "return_dd", "Return with a drawdown limit"

    Status = BacktestRun.Status
    FINAL = BacktestRun.FINAL

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="optimizations"
    )
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True, help_text="Fixed parameters, complete.")
    space = models.JSONField(default=dict, help_text="{param: [values]} searched.")
    method = models.CharField(max_length=16, choices=Method.choices)
    objective = models.CharField(max_length=16, choices=Objective.choices)
    options = models.JSONField(default=dict, blank=True, help_text="Trials, folds, gates.")
    exchange = models.CharField(max_length=64)
    symbol = models.CharField(max_length=64)
    timeframe = models.CharField(max_length=8)
    start = models.DateTimeField()
    end = models.DateTimeField()
    cash = models.DecimalField(max_digits=38, decimal_places=18)
    fee_rate = models.DecimalField(max_digits=12, decimal_places=10)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0, help_text="Evaluations finished.")
    total = models.PositiveIntegerField(default=0, help_text="Evaluations planned.")
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    results = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="optimization_user_recent")]

    def __str__(self) -> str:
        return f"optimization {self.pk} {self.method} {self.strategy} {self.symbol}"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL
