"""Compliance tasks: the audit chain's periodic anchor."""

from celery import shared_task


@shared_task(name="compliance.tasks.audit_anchor_task", ignore_result=True)
def audit_anchor_task() -> int | None:
    """Sign the audit chain's head as an anchor (nothing when no event came since the last)."""
    from compliance.services import audit_anchor_create

    anchor = audit_anchor_create()
    return anchor.seq if anchor else None
