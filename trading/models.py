"""Bots, their leases and events, orders, fills, signals, risk limits and kill switches.

Orders and fills are the books: Postgres is the source of truth, written by trading.services
only. An order row (with its unique client order id) is committed before the exchange hears of
it; a fill is unique per (exchange, account, symbol, trade id), so a fill seen twice is booked
once. Money and quantities are NUMERIC (DecimalField).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

MONEY = {"max_digits": 36, "decimal_places": 18}

# What a bot's budget means, in one wording for the form, the API and the bot page.
BUDGET_HELP = (
    "The quote amount the bot manages (e.g. USDT): its exposure, position plus open orders, "
    "is capped at the max exposure fraction of it; a paper bot starts with it as cash."
)


def _plain(value) -> str:
    """A decimal string without trailing zeros (0.500 -> 0.5)."""
    from decimal import Decimal, InvalidOperation

    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{number.normalize():f}" if number else "0"


class Bot(models.Model):
    """One user's bot: a catalog strategy with its parameters, venues, mode, budget and limits."""

    class Mode(models.TextChoices):
        PAPER = "paper", "Paper"
        LIVE = "live", "Live"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        STARTING = "starting", "Starting"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPING = "stopping", "Stopping"
        STOPPED = "stopped", "Stopped"
        ERROR = "error", "Error"

    class OnBreach(models.TextChoices):
        PAUSE = "pause", "Pause the bot"
        KILL = "kill", "Kill the bot (cancel every order and stop)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots"
    )
    name = models.CharField(max_length=100)
    strategy = models.CharField(max_length=64, help_text="Catalog id, e.g. ema_cross.")
    params = models.JSONField(default=dict, blank=True)
    saved_config = models.ForeignKey(
        "strategies.StrategyConfig",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bots",
    )
    symbols = models.JSONField(default=list, help_text='Unified symbols, e.g. ["BTC/USDT"].')
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    budget = models.DecimalField(**MONEY, help_text="Quote amount the bot manages.")
    paper_balances = models.JSONField(
        default=dict, blank=True, help_text='Paper starting funds per venue: {"sandbox": {...}}.'
    )
    risk_limits = models.JSONField(default=dict, blank=True)
    on_breach = models.CharField(max_length=8, choices=OnBreach.choices, default=OnBreach.PAUSE)
    timer_ms = models.PositiveIntegerField(default=1000, help_text="Strategy timer interval.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # runtime checkpoint (written under the lease)
    strategy_state = models.JSONField(null=True, blank=True)
    risk_state = models.JSONField(null=True, blank=True)
    checkpoint_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # risk sweep bookkeeping
    peak_equity = models.DecimalField(**MONEY, null=True, blank=True)
    day_start_equity = models.DecimalField(**MONEY, null=True, blank=True)
    risk_day = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="bot_name_unique"),
            models.CheckConstraint(
                condition=models.Q(mode__in=["paper", "live"]), name="bot_mode_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=[
                        "draft",
                        "starting",
                        "running",
                        "paused",
                        "stopping",
                        "stopped",
                        "error",
                    ]
                ),
                name="bot_status_valid",
            ),
            models.CheckConstraint(condition=models.Q(budget__gt=0), name="bot_budget_positive"),
        ]
        indexes = [models.Index(fields=["status"], name="bot_status_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.strategy}, {self.mode})"

    @property
    def is_live(self) -> bool:
        return self.mode == self.Mode.LIVE

    @property
    def symbol(self) -> str:
        return self.symbols[0] if self.symbols else ""

    @property
    def quote_asset(self) -> str:
        """The quote currency of its first market: the unit of its budget."""
        return self.symbol.partition("/")[2]

    budget_help = BUDGET_HELP

    @property
    def quoting_note(self) -> str:
        """Why a running market maker quotes fewer orders than configured, in words, from the
        `held_back` of its last checkpoint (tradecore's PureMarketMakingStrategy)."""
        if self.status != self.Status.RUNNING or not isinstance(self.strategy_state, dict):
            return ""
        held_back = self.strategy_state.get("held_back") or {}
        levels = int((self.params or {}).get("order_levels") or 1)
        sentences = []
        for side, other in (("sell", "bids"), ("buy", "asks")):
            info = held_back.get(side)
            if not isinstance(info, dict):
                continue
            asset, held = info.get("asset", ""), _plain(info.get("held"))
            needed, count = _plain(info.get("needed")), int(info.get("levels") or 0)
            if count >= levels and side == "sell":
                sentences.append(
                    f"Quoting {other} only: the bot holds {held} {asset}, and an ask needs "
                    f"{needed} {asset}. Its asks start once a bid fills"
                    + (" (or give a new paper bot a start inventory)." if not self.is_live else ".")
                )
            elif count >= levels:
                sentences.append(
                    f"Quoting {other} only: the bot holds {held} {asset}, and a bid needs "
                    f"{needed} {asset}. Its bids start again once an ask fills."
                )
            else:
                word = "ask" if side == "sell" else "bid"
                sentences.append(
                    f"{count} of {levels} {word} levels held back: the bot holds {held} "
                    f"{asset}, the next {word} needs {needed} {asset}."
                )
        return " ".join(sentences)

    @property
    def client_id_prefix(self) -> str:
        """Every client order id of this bot starts with this (adoption after a crash)."""
        return f"pg{self.pk}-"


class BotVenue(models.Model):
    """An exchange a bot trades on; live bots trade through the exchange account."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="venues")
    exchange = models.CharField(max_length=64)
    exchange_account = models.ForeignKey(
        "exchanges.ExchangeAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bot_venues",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "exchange"], name="bot_venue_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.bot_id}@{self.exchange}"

    @property
    def account_key(self) -> str:
        """Whose fills these are: the exchange account, or the bot's own paper account."""
        if self.bot.mode == Bot.Mode.LIVE and self.exchange_account_id:
            return str(self.exchange_account_id)
        return f"paper-{self.bot_id}"


class BotLease(models.Model):
    """Who runs a bot: one holder at a time, with a fencing token that every write checks.

    The token only grows; taking over an expired lease increments it, so a stalled runner's
    late writes (checked against its old token) are refused.
    """

    bot = models.OneToOneField(
        Bot, on_delete=models.CASCADE, primary_key=True, related_name="lease"
    )
    token = models.BigIntegerField(default=0)
    holder = models.CharField(max_length=200, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)
    renewed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"lease of bot {self.bot_id} (token {self.token})"


class BotEvent(models.Model):
    """A bot's history: status changes, restarts, risk breaches, errors, reconciliations."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=32)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["bot", "kind", "at"], name="bot_event_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:60]}"


class Order(models.Model):
    """An order as Peregrine knows it; the row exists before the exchange hears of it."""

    class Status(models.TextChoices):
        NEW = "new", "New (not yet acknowledged)"
        OPEN = "open", "Open"
        PARTIALLY_FILLED = "partially_filled", "Partially filled"
        FILLED = "filled", "Filled"
        CANCELLED = "cancelled", "Cancelled"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        UNKNOWN = "unknown", "Unknown (being looked up)"
        LOST = "lost", "Lost (never found on the exchange)"

    ACTIVE = ("new", "open", "partially_filled", "unknown")
    TERMINAL = ("filled", "cancelled", "rejected", "expired", "lost")

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="orders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=8, choices=Bot.Mode.choices)
    exchange = models.CharField(max_length=64)
    exchange_account = models.ForeignKey(
        "exchanges.ExchangeAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
    )
    symbol = models.CharField(max_length=32)
    client_order_id = models.CharField(max_length=64, unique=True)
    exchange_order_id = models.CharField(max_length=64, blank=True)
    side = models.CharField(max_length=4)
    type = models.CharField(max_length=12)
    time_in_force = models.CharField(max_length=4, default="GTC")
    post_only = models.BooleanField(default=False)
    price = models.DecimalField(**MONEY, null=True, blank=True)
    stop_price = models.DecimalField(**MONEY, null=True, blank=True)
    qty = models.DecimalField(**MONEY)
    quote_qty = models.DecimalField(**MONEY, null=True, blank=True)
    filled_qty = models.DecimalField(**MONEY, default=0)
    avg_price = models.DecimalField(**MONEY, null=True, blank=True)
    fee = models.DecimalField(**MONEY, default=0)
    fee_asset = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    reason = models.CharField(max_length=500, blank=True)
    tag = models.CharField(max_length=32, blank=True)
    level = models.SmallIntegerField(null=True, blank=True)
    adopted = models.BooleanField(default=False, help_text="Found on the exchange, not sent.")
    lease_token = models.BigIntegerField(default=0)
    trigger_ms = models.BigIntegerField(
        null=True, blank=True, help_text="Time of the market event that led to this order."
    )
    reference_price = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        help_text="Mid of the venue's book when the order was decided (slippage is measured "
        "against it); empty when the venue had no book.",
    )
    not_found_count = models.PositiveSmallIntegerField(default=0)
    first_not_found_at = models.DateTimeField(null=True, blank=True)
    last_lookup_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(qty__gte=0), name="order_qty_not_negative"),
            models.CheckConstraint(
                condition=models.Q(filled_qty__gte=0), name="order_filled_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["bot", "status"], name="order_bot_status_idx"),
            models.Index(fields=["exchange", "exchange_order_id"], name="order_exchange_id_idx"),
            models.Index(fields=["user", "created_at"], name="order_user_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.side} {self.qty} {self.symbol} {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class Fill(models.Model):
    """One execution of (part of) an order; booked once however often it is seen."""

    class Source(models.TextChoices):
        PAPER = "paper", "Paper venue"
        RESPONSE = "response", "Order response"
        POLL = "poll", "Trade poll"
        STREAM = "stream", "Trade stream"
        RECONCILE = "reconcile", "Reconciliation"

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="fills")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=8, choices=Bot.Mode.choices)
    exchange = models.CharField(max_length=64)
    exchange_account = models.ForeignKey(
        "exchanges.ExchangeAccount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="fills",
    )
    account_key = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32)
    trade_id = models.CharField(max_length=64)
    side = models.CharField(max_length=4)
    price = models.DecimalField(**MONEY)
    qty = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY, default=0)
    fee_asset = models.CharField(max_length=16, blank=True)
    liquidity = models.CharField(max_length=5, blank=True)
    executed_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-executed_at", "-id"]
        constraints = [
            # Exchanges number trades per market, and both sides of a trade share its id: the
            # account and the symbol are part of a fill's identity.
            models.UniqueConstraint(
                fields=["exchange", "account_key", "symbol", "trade_id"], name="fill_trade_unique"
            ),
            models.CheckConstraint(condition=models.Q(qty__gt=0), name="fill_qty_positive"),
        ]
        indexes = [
            models.Index(fields=["bot", "executed_at"], name="fill_bot_executed_idx"),
            models.Index(fields=["user", "executed_at"], name="fill_user_executed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.trade_id} {self.side} {self.qty} {self.symbol} @ {self.price}"


class Signal(models.Model):
    """What a strategy decided and the indicator values it decided on."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="signals")
    at = models.DateTimeField()
    symbol = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=16)
    indicators = models.JSONField(default=dict, blank=True)
    intents = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["bot", "at"], name="signal_bot_at_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.symbol} at {self.at:%Y-%m-%d %H:%M:%S}"


class UserRiskLimits(models.Model):
    """Limits across all of one user's bots, checked by the risk sweep."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="risk_limits"
    )
    max_exposure = models.DecimalField(**MONEY, null=True, blank=True)
    max_drawdown_fraction = models.DecimalField(
        max_digits=8, decimal_places=6, null=True, blank=True
    )
    daily_loss_limit = models.DecimalField(**MONEY, null=True, blank=True)
    on_breach = models.CharField(
        max_length=8, choices=Bot.OnBreach.choices, default=Bot.OnBreach.PAUSE
    )
    peak_equity = models.DecimalField(**MONEY, null=True, blank=True)
    day_start_equity = models.DecimalField(**MONEY, null=True, blank=True)
    risk_day = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "user risk limits"

    def __str__(self) -> str:
        return f"risk limits of {self.user_id}"


class KillSwitch(models.Model):
    """An engaged kill switch, for one user or (no user) for everyone; released by an operator.

    While one is engaged no bot it covers may start.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="kill_switches",
    )
    reason = models.CharField(max_length=500)
    engaged_at = models.DateTimeField(auto_now_add=True)
    engaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    bots_stopped = models.PositiveIntegerField(default=0)
    orders_cancelled = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-engaged_at"]
        verbose_name_plural = "kill switches"

    def __str__(self) -> str:
        scope = f"user {self.user_id}" if self.user_id else "everyone"
        state = "released" if self.released_at else "engaged"
        return f"kill switch for {scope} ({state})"

    @property
    def is_engaged(self) -> bool:
        return self.released_at is None


class RealizedCost(models.Model):
    """What trading a market actually cost on Peregrine: an anonymous aggregate of live fills.

    One row per (exchange, symbol, liquidity) over a rolling window, written by the fee
    intelligence refresh (trading.services.realized_costs). A row holds aggregates only, never a
    user, bot, order or trade id, and exists only when at least FEE_INTELLIGENCE_MIN_USERS (>= 5)
    distinct users contributed fills and none of them dominates the notional.
    """

    exchange = models.CharField(max_length=64)
    symbol = models.CharField(max_length=32)
    liquidity = models.CharField(max_length=5, blank=True, help_text="maker, taker or unknown.")
    users = models.PositiveIntegerField(help_text="Distinct users whose fills are counted.")
    fills = models.PositiveIntegerField()
    notional = models.DecimalField(**MONEY, help_text="Sum of price x quantity, in quote.")
    fee_rate = models.DecimalField(
        max_digits=20,
        decimal_places=12,
        null=True,
        blank=True,
        help_text="Fees in quote (base fees at the fill price) / notional of those fills.",
    )
    fee_fills = models.PositiveIntegerField(
        default=0, help_text="Fills whose fee could be valued in quote (the fee rate's base)."
    )
    slippage_bp = models.DecimalField(
        max_digits=20,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Notional-weighted basis points paid versus the mid at decision time "
        "(positive: worse than the mid, for buys and sells alike).",
    )
    slippage_fills = models.PositiveIntegerField(
        default=0, help_text="Fills whose order recorded a reference price."
    )
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["exchange", "symbol", "liquidity"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "liquidity"], name="realized_cost_market_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(users__gte=5), name="realized_cost_at_least_5_users"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.liquidity or 'unknown'} ({self.users} users)"

    @property
    def fee_bp(self):
        return None if self.fee_rate is None else self.fee_rate * 10000


class SignalWebhook(models.Model):
    """A bot's secret alert URL (TradingView-style): the URL's token is the credential.

    Only the token's SHA-256 is stored; the URL is shown once, when it is made (a new one
    replaces it and the old one stops working at once)."""

    bot = models.OneToOneField(Bot, on_delete=models.CASCADE, related_name="webhook")
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(
        max_length=8, help_text="The token's first characters, to tell URLs apart."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_signal_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"webhook {self.hint}… of bot {self.bot_id}"


class WebhookSignal(models.Model):
    """One alert accepted from a bot's webhook, and what the bot did with it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the bot"
        DONE = "done", "Handed to the bot"
        EXPIRED = "expired", "Expired before the bot took it"

    webhook = models.ForeignKey(SignalWebhook, on_delete=models.CASCADE, related_name="signals")
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="webhook_signals")
    received_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(help_text="The alert's own time (its `time` field).")
    action = models.CharField(max_length=8)
    qty = models.DecimalField(max_digits=38, decimal_places=18, null=True, blank=True)
    digest = models.CharField(
        max_length=64, help_text="SHA-256 of the alert's fields: the same alert twice is a replay."
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    outcome = models.CharField(max_length=200, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "digest"], name="webhook_signal_replay"),
        ]
        indexes = [
            models.Index(
                fields=["bot", "received_at"],
                condition=models.Q(status="pending"),
                name="webhook_signal_pending_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.qty or ''} for bot {self.bot_id} ({self.status})"
