"""KYC/AML: the operator-set verification status, its documents' metadata, the site policy that
makes live trading need "verified". Every change is audited (before and after)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import SitePolicy, Verification, VerificationDocument
from compliance.services import audit_record

_DOCUMENT_FIELDS = ("kind", "issuing_country", "number_last4", "expires_on", "checked_on", "notes")


def verification_get(*, user) -> Verification:
    """The user's verification (unverified when the operator never set one); not saved."""
    found = Verification.objects.filter(user_id=user.pk).first()
    return found or Verification(user=user)


def site_policy_get() -> SitePolicy:
    return SitePolicy.objects.filter(pk=1).first() or SitePolicy(pk=1)


@transaction.atomic
def verification_set(
    *, user, status: str, notes: str = "", actor=None, ip: str | None = None
) -> Verification:
    """Set a user's verification status and notes; a change is audited."""
    if status not in Verification.Status.values:
        raise ValidationError({"status": f"Unknown status '{status}'."})
    verification, _ = Verification.objects.select_for_update().get_or_create(user_id=user.pk)
    before = {"status": verification.status, "notes": verification.notes}
    after = {"status": status, "notes": notes or ""}
    if before == after:
        return verification
    verification.status, verification.notes = status, notes or ""
    verification.reviewed_by = actor if getattr(actor, "is_authenticated", False) else None
    verification.save()
    audit_record(
        actor=actor, action="verification.update", target=user, ip=ip, before=before, after=after
    )
    return verification


def _document_values(document: VerificationDocument) -> dict:
    return {
        name: (value.isoformat() if hasattr(value, "isoformat") else value)
        for name in _DOCUMENT_FIELDS
        for value in [getattr(document, name)]
    }


@transaction.atomic
def verification_document_save(
    *, document: VerificationDocument, actor=None, ip: str | None = None
) -> VerificationDocument:
    """Add or change a document's metadata (validated); audited with before and after."""
    document.issuing_country = (document.issuing_country or "").upper()
    document.full_clean()
    before = None
    if document.pk is not None:
        before = _document_values(VerificationDocument.objects.get(pk=document.pk))
    document.save()
    user = document.verification.user
    action = "verification.document_add" if before is None else "verification.document_update"
    after = {"document_id": document.pk, **_document_values(document)}
    audit_record(actor=actor, action=action, target=user, ip=ip, before=before, after=after)
    return document


@transaction.atomic
def verification_document_delete(
    *, document: VerificationDocument, actor=None, ip: str | None = None
) -> None:
    """Remove a document's metadata; the audit event keeps what it said."""
    user = document.verification.user
    before = {"document_id": document.pk, **_document_values(document)}
    document.delete()
    audit_record(
        actor=actor, action="verification.document_delete", target=user, ip=ip, before=before
    )


@transaction.atomic
def site_policy_set(
    *, live_trading_requires_verification: bool, actor=None, ip: str | None = None
) -> SitePolicy:
    """Turn the live-trading verification requirement on or off; audited."""
    policy, _ = SitePolicy.objects.select_for_update().get_or_create(pk=1)
    before = {"live_trading_requires_verification": policy.live_trading_requires_verification}
    if before["live_trading_requires_verification"] != live_trading_requires_verification:
        policy.live_trading_requires_verification = live_trading_requires_verification
        policy.save()
        audit_record(
            actor=actor,
            action="site_policy.update",
            target=policy,
            ip=ip,
            before=before,
            after={"live_trading_requires_verification": live_trading_requires_verification},
        )
    return policy


def live_trading_verification_error(user) -> str | None:
    """Why the user may not trade live under the site policy, or None when they may.

    Called by trading.services.bots wherever a live bot starts or resumes.
    """
    if not site_policy_get().live_trading_requires_verification:
        return None
    verification = verification_get(user=user)
    if verification.status == Verification.Status.VERIFIED:
        return None
    return (
        "Live trading needs a verified identity on this installation; your verification is "
        f"{verification.get_status_display().lower()}. Contact the operator."
    )
