from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEventQuerySet(models.QuerySet):
    """Audit events are append-only: bulk updates and deletes are refused here and in Postgres."""

    def update(self, **kwargs):
        raise PermissionError("audit events are append-only")

    def delete(self):
        raise PermissionError("audit events are append-only")


class AuditEvent(models.Model):
    """Who did what, when, from where, to which object; written only by audit_record().

    `seq`, `prev_hash` and `hash` link the events into one hash chain (compliance.audit_chain);
    `manage.py audit_verify` checks it. An event without `seq` was never chained: verify names
    it as a broken link (migration 0003 chained the events that existed before the chain).
    """

    # Set by audit_record() before hashing (the hash covers it), not by the database.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database constraint and no cascade: deleting a user must not rewrite their history.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_email = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["actor", "-created_at"], name="audit_actor_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_email or 'system'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit events are append-only")


class AuditAnchor(models.Model):
    """The chain head at a point in time, signed with a key kept outside the database.

    Made periodically (compliance.services.audit_anchor_create, by Celery beat) and written to
    the log as well. Rewriting the chain up to an anchor's seq, even consistently, shows against
    the anchor; removing events after the last anchor shows against the next one.
    """

    created_at = models.DateTimeField(default=timezone.now)
    seq = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    mac = models.CharField(max_length=64)
    # compliance.audit_chain.key_id of the key that signed it; empty for anchors signed before
    # AUDIT_ANCHOR_KEY existed (their key was derived from SECRET_KEY)
    key_id = models.CharField(max_length=16, blank=True, db_default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-seq", "-id"]

    def __str__(self) -> str:
        return f"anchor at #{self.seq} ({self.created_at:%Y-%m-%d %H:%M:%S})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit anchors are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit anchors are append-only")


# Tax lots' inputs (settings per tax year, non-fill transactions) live in their own module.
from compliance.tax_models import TaxExport, TaxTransaction, TaxYear  # noqa: E402,F401
