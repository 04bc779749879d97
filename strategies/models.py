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
