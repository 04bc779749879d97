"""Compliance tasks: the audit chain's periodic anchor; tax exports written by a worker."""

from celery import shared_task


@shared_task(name="compliance.tasks.audit_anchor_task", ignore_result=True)
def audit_anchor_task() -> int | None:
    """Sign the audit chain's head as an anchor (nothing when no event came since the last)."""
    from compliance.services import audit_anchor_create

    anchor = audit_anchor_create()
    return anchor.seq if anchor else None


@shared_task(name="compliance.tasks.tax_export_run_task", ignore_result=True)
def tax_export_run_task(export_id: int) -> str | None:
    """Write one tax export's CSV file (a missing or finished export is left alone)."""
    from compliance.tax.exports import tax_export_run

    export = tax_export_run(export_id=export_id)
    return export.status if export else None


@shared_task(name="compliance.tasks.tax_export_prune_task", ignore_result=True)
def tax_export_prune_task() -> int:
    """Delete expired tax exports and their files."""
    from compliance.tax.exports import tax_export_prune

    return tax_export_prune()
