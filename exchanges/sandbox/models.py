"""Sandbox exchange users, their API keys and deposits (the server's balances start from these).

The sandbox keeps each key's secret in the clear because, like Binance, it must recompute the
HMAC signature of every signed request. These are keys of a local test exchange, never of a
real one; Peregrine's own copy of a key (exchanges.ExchangeAccount) is encrypted as usual.
"""

from django.db import models


class SandboxUser(models.Model):
    name = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class SandboxApiKey(models.Model):
    user = models.ForeignKey(SandboxUser, on_delete=models.CASCADE, related_name="api_keys")
    api_key = models.CharField(max_length=64, unique=True)
    secret = models.CharField(max_length=64)
    can_trade = models.BooleanField(default=True)
    enable_withdrawals = models.BooleanField(default=False)
    ip_restrict = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user.name}:{self.api_key[:6]}…"


class SandboxDeposit(models.Model):
    """A credit to a sandbox user's balance; an empty venue credits every venue."""

    user = models.ForeignKey(SandboxUser, on_delete=models.CASCADE, related_name="deposits")
    venue = models.CharField(max_length=64, blank=True)
    asset = models.CharField(max_length=16)
    amount = models.DecimalField(max_digits=36, decimal_places=18)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="sandbox_deposit_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.asset} to {self.user_id}"
