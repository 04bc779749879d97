from django.contrib import admin

from strategies.models import BacktestRun, StrategyConfig


@admin.register(StrategyConfig)
class StrategyConfigAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "strategy", "updated_at"]
    list_filter = ["strategy"]
    search_fields = ["name", "user__email"]
    readonly_fields = ["user", "strategy", "params", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
    """Operators see runs and why they failed; runs change only through the services."""

    list_display = ["id", "user", "strategy", "exchange", "symbol", "timeframe", "status",
                    "bars_done", "bars_total", "created_at"]  # fmt: skip
    list_filter = ["status", "strategy", "exchange", "timeframe"]
    search_fields = ["user__email", "symbol"]
    exclude = ["results"]  # megabytes of JSON: the run's page and the API show them

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
