from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken, AuthenticatorDevice, SecondFactorThrottle, User, UserSession

# django-otp's own device admin shows the seed and its QR code; operators get the one below
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(AuthenticatorDevice)
class AuthenticatorDeviceAdmin(admin.ModelAdmin):
    """Operators see who has an authenticator app and may remove one (a user who lost the
    phone and the backup codes); the seed is never shown and cannot be set here."""

    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__email"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Operators see tokens (never their value, which is not stored) and can revoke them."""

    list_display = [
        "name",
        "user",
        "scope",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["scope"]
    search_fields = ["name", "user__email", "prefix"]
    readonly_fields = [
        "user",
        "name",
        "scope",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    exclude = ["token_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        from accounts.security import client_ip
        from accounts.services.tokens import api_token_revoke

        for token in queryset:
            api_token_revoke(token=token, ip=client_ip(request))


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = ["user", "ip", "user_agent", "created_at", "last_seen_at"]
    search_fields = ["user__email", "ip"]
    exclude = ["session_key"]
    readonly_fields = ["user", "ip", "user_agent", "created_at", "last_seen_at"]

    def has_add_permission(self, request):
        return False


@admin.register(SecondFactorThrottle)
class SecondFactorThrottleAdmin(admin.ModelAdmin):
    """Failed-code counters; an operator may reset one after checking who is asking."""

    list_display = ["user", "failure_count", "last_failure_at"]
    search_fields = ["user__email"]
    readonly_fields = ["user", "last_failure_at"]

    def has_add_permission(self, request):
        return False
