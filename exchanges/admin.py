from django.contrib import admin

from exchanges.models import ExchangeAccount


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin):
    """Operators see accounts and can disable them; ciphertexts and secrets are never shown."""

    list_display = ["label", "user", "exchange", "mode", "status", "api_key_last4", "created_at"]
    list_filter = ["mode", "status", "exchange"]
    search_fields = ["label", "user__email", "exchange"]
    fields = [
        "id",
        "user",
        "exchange",
        "label",
        "mode",
        "status",
        "disabled_reason",
        "api_key_last4",
        "key_version",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    actions = ["disable"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Disable selected accounts (stops their bots trading)")
    def disable(self, request, queryset):
        from accounts.security import client_ip
        from exchanges.services.credentials import exchange_account_disable

        for account in queryset:
            exchange_account_disable(
                account=account,
                reason="Disabled by an operator.",
                actor=request.user,
                ip=client_ip(request),
            )
