from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import (
    ApiToken,
    AuthenticatorDevice,
    SecondFactorThrottle,
    SitePolicy,
    User,
    UserSession,
    Verification,
    VerificationDocument,
)
from accounts.security import client_ip

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
    """Turning `is_active` off (here or with the action) disables the user for real: their bots
    are killed and their orders cancelled, their API tokens revoked and sessions ended."""

    ordering = ["email"]
    list_display = [
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "is_active",
        "verification_status",
        "date_joined",
    ]
    list_select_related = ["verification"]
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
    actions = ["disable_users", "enable_users"]

    @admin.display(description="Verification")
    def verification_status(self, obj) -> str:
        verification = getattr(obj, "verification", None)
        return verification.get_status_display() if verification else "Unverified"

    def save_model(self, request, obj, form, change):
        from accounts.services.lifecycle import user_enable

        was_active = User.objects.filter(pk=obj.pk).values_list("is_active", flat=True).first()
        if not change or was_active is None or was_active == obj.is_active:
            super().save_model(request, obj, form, change)
            return
        wanted, obj.is_active = obj.is_active, was_active
        super().save_model(request, obj, form, change)  # the other fields, as edited
        if wanted:
            user_enable(user=obj, actor=request.user, ip=client_ip(request))
        else:
            self._disable(request, obj)

    def _disable(self, request, user) -> None:
        from accounts.services.lifecycle import user_disable

        result = user_disable(user=user, actor=request.user, ip=client_ip(request))
        self.message_user(
            request,
            f"{user.email} disabled: {result['bots_stopped']} bot(s) stopped, "
            f"{result['orders_cancelled']} order(s) cancelled, {result['tokens_revoked']} "
            f"token(s) revoked, {result['sessions_ended']} session(s) ended.",
        )

    @admin.action(description="Disable selected users (stop bots, revoke tokens and sessions)")
    def disable_users(self, request, queryset):
        for user in queryset.filter(is_active=True).exclude(pk=request.user.pk):
            self._disable(request, user)

    @admin.action(description="Enable selected users")
    def enable_users(self, request, queryset):
        from accounts.services.lifecycle import user_enable

        for user in queryset.filter(is_active=False):
            user_enable(user=user, actor=request.user, ip=client_ip(request))


class VerificationDocumentInline(admin.TabularInline):
    model = VerificationDocument
    extra = 1
    fields = ["kind", "issuing_country", "number_last4", "expires_on", "checked_on", "notes"]


@admin.register(Verification)
class VerificationAdmin(admin.ModelAdmin):
    """KYC/AML: the operator sets a user's status and records the documents seen (metadata
    only: no file is uploaded or kept). Every change goes to the audit log."""

    list_display = ["user", "status", "reviewed_by", "updated_at"]
    list_filter = ["status"]
    search_fields = ["user__email"]
    autocomplete_fields = ["user"]
    fields = ["user", "status", "notes", "reviewed_by", "updated_at"]
    readonly_fields = ["reviewed_by", "updated_at"]
    inlines = [VerificationDocumentInline]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "user"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        from accounts.services.verification import verification_set

        saved = verification_set(
            user=obj.user,
            status=obj.status,
            notes=obj.notes,
            actor=request.user,
            ip=client_ip(request),
        )
        obj.pk, obj._state.adding = saved.pk, False

    def save_formset(self, request, form, formset, change):
        from accounts.services.verification import (
            verification_document_delete,
            verification_document_save,
        )

        ip = client_ip(request)
        documents = formset.save(commit=False)
        for document in formset.deleted_objects:
            verification_document_delete(document=document, actor=request.user, ip=ip)
        for document in documents:
            document.verification = form.instance
            verification_document_save(document=document, actor=request.user, ip=ip)


@admin.register(SitePolicy)
class SitePolicyAdmin(admin.ModelAdmin):
    """One row of installation-wide switches; every change is audited."""

    fields = ["live_trading_requires_verification", "updated_at"]
    readonly_fields = ["updated_at"]

    def has_add_permission(self, request) -> bool:
        return not SitePolicy.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        from accounts.services.verification import site_policy_set

        site_policy_set(
            live_trading_requires_verification=obj.live_trading_requires_verification,
            actor=request.user,
            ip=client_ip(request),
        )
        obj.pk, obj._state.adding = 1, False


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
