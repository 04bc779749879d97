"""Notification channels (destinations sealed like exchange keys) and the delivery log."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class NotificationEvent(models.TextChoices):
    """What a channel can subscribe to."""

    BOT_STARTED = "bot_started", "Bot started"
    BOT_STOPPED = "bot_stopped", "Bot stopped"
    BOT_ERROR = "bot_error", "Bot error"
    FILL = "fill", "Order filled"
    RISK_BREACH = "risk_breach", "Risk limit breached"
    KILL_SWITCH = "kill_switch", "Kill switch"
    ARBITRAGE_OPPORTUNITY = "arbitrage_opportunity", "Arbitrage opportunity"
    DAILY_SUMMARY = "daily_summary", "Daily summary"


# A test message the owner sends from the channel page: not subscribable, never de-duplicated.
TEST_EVENT = "test"


class NotificationChannel(models.Model):
    """Where one user's notifications go: an apprise URL (or a verified address), sealed at rest.

    `target_ciphertext` is sealed by exchanges/crypto.py, bound to (table, id, user id, key
    version); only notifications.services opens it, to deliver. Pages show `target_hint` only.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        TELEGRAM = "telegram", "Telegram"
        DISCORD = "discord", "Discord"
        SLACK = "slack", "Slack"
        WEBHOOK = "webhook", "Webhook"

    # A random id: known before the first insert (the ciphertext is bound to it), not guessable.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_channels"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    label = models.CharField(max_length=100)
    target_ciphertext = models.TextField(editable=False)
    target_hint = models.CharField(max_length=120, editable=False)
    key_version = models.PositiveIntegerField(default=1, editable=False)
    events = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    arbitrage_min_spread_pct = models.DecimalField(
        max_digits=8,
        decimal_places=4,
        default=Decimal("0.5"),
        help_text="Arbitrage opportunities are sent only from this spread (percent) up.",
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["label", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "label"], name="notification_channel_label_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["email", "telegram", "discord", "slack", "webhook"]),
                name="notification_channel_kind_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(arbitrage_min_spread_pct__gte=0),
                name="notification_channel_threshold_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["user", "enabled"], name="notification_channel_user_idx")]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_kind_display()})"

    @property
    def event_labels(self) -> list[str]:
        labels = dict(NotificationEvent.choices)
        return [labels.get(event, event) for event in self.events]


class DeliveryLog(models.Model):
    """One notification to one channel: queued, sent, retried, failed or held back."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        RATE_LIMITED = "rate_limited", "Held back (rate limit)"
        SKIPPED = "skipped", "Skipped (channel disabled)"

    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.CASCADE, related_name="deliveries"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    body = models.TextField()
    dedupe_key = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "created_at"], name="delivery_user_created_idx"),
            models.Index(fields=["channel", "created_at"], name="delivery_channel_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.channel_id}: {self.status}"


class TelegramLink(models.Model):
    """A Telegram chat linked to a user for control through Peregrine's Telegram bot
    (notifications.telegram). `scope` is read (status, profit, balance...) or trade (also
    start, stop, pause, kill, each confirmed in the chat)."""

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        TRADE = "trade", "Read and trade"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_links"
    )
    chat_id = models.BigIntegerField(unique=True)
    username = models.CharField(max_length=64, blank=True)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    linked_at = models.DateTimeField(auto_now_add=True)
    last_command_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["linked_at"]

    def __str__(self) -> str:
        return f"Telegram chat {self.chat_id} of user {self.user_id} ({self.scope})"
