"""Audit trail, tax lots, tax and trade exports."""

from django.contrib import admin

from compliance.models import AuditAnchor, AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Operators read every event; nobody edits or deletes one."""

    list_display = [
        "seq",
        "created_at",
        "actor_email",
        "action",
        "target_type",
        "target_repr",
        "ip",
    ]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_email", "action", "target_id", "target_repr", "ip"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditAnchor)
class AuditAnchorAdmin(admin.ModelAdmin):
    """Signed chain heads (made by a periodic task; `manage.py audit_verify` checks them)."""

    list_display = ["seq", "created_at", "head_hash", "mac"]
    readonly_fields = [field.name for field in AuditAnchor._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
