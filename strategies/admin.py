from django.contrib import admin

from strategies.models import StrategyConfig


@admin.register(StrategyConfig)
class StrategyConfigAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "strategy", "updated_at"]
    list_filter = ["strategy"]
    search_fields = ["name", "user__email"]
    readonly_fields = ["user", "strategy", "params", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False
