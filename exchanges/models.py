import uuid

from django.conf import settings
from django.db import models


class ExchangeAccount(models.Model):
    """A user's account on one exchange; key, secret and passphrase stored only as ciphertext.

    The ciphertext columns hold values sealed by exchanges/crypto.py, bound to
    (table, id, user_id, key_version). Only exchanges.services.credentials opens them.
    """

    class Mode(models.TextChoices):
        PAPER = "paper", "Paper"
        LIVE = "live", "Live"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"

    # A random id: known before the first insert (the ciphertext is bound to it) and not guessable.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_accounts"
    )
    exchange = models.CharField(max_length=64)
    label = models.CharField(max_length=100)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PAPER)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    disabled_reason = models.CharField(max_length=500, blank=True)
    api_key_last4 = models.CharField(max_length=4)
    # keyed hash (HMAC-SHA256) of exchange + API key: the same key is found without decrypting
    # anyone's (exchanges.services.credentials.api_key_fingerprint); empty for rows stored
    # before it, until their keys are replaced
    api_key_fingerprint = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    api_key_ciphertext = models.TextField(editable=False)
    secret_ciphertext = models.TextField(editable=False)
    passphrase_ciphertext = models.TextField(blank=True, editable=False)
    key_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["label", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "label"], name="exchange_account_label_unique"),
            models.CheckConstraint(
                condition=models.Q(mode__in=["paper", "live"]), name="exchange_account_mode_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "disabled"]),
                name="exchange_account_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange}, {self.mode})"

    @property
    def has_passphrase(self) -> bool:
        return bool(self.passphrase_ciphertext)

    @property
    def is_live(self) -> bool:
        return self.mode == self.Mode.LIVE

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE
