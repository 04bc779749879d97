from django.contrib import admin

from notifications.models import DeliveryLog, NotificationChannel


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    """Operators see channels and why they were disabled; destinations are never shown."""

    list_display = ["label", "user", "kind", "enabled", "target_hint", "last_sent_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["label", "user__email"]
    fields = [
        "id",
        "user",
        "kind",
        "label",
        "target_hint",
        "events",
        "arbitrage_min_spread_pct",
        "enabled",
        "disabled_reason",
        "disabled_at",
        "last_sent_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DeliveryLog)
class DeliveryLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "channel", "event", "status", "attempts", "error"]
    list_filter = ["status", "event"]
    search_fields = ["user__email", "title"]
    readonly_fields = [field.name for field in DeliveryLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
