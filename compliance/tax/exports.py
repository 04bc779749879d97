"""CSV exports, streamed in the request or, past a size, written by a worker with progress.

`export_lines` is the one producer of an export's CSV text: the streamed download iterates it
in the request, the worker (tax_export_run) writes it to a file, so a worker's file is byte for
byte the download the request would have streamed. What decides is the number of records the
export reads (the user's fills and tax transactions up to the end of the year, or all of them
for the history formats): past settings.TAX_EXPORT_ASYNC_THRESHOLD the page and the API start
a TaxExport instead of streaming.

Files live under settings.TAX_EXPORT_ROOT/<user id>/<random>.csv, written to a temporary name
and renamed when complete, so a download never sees half a file. A row and its file go
together: expired ones are pruned (tax_export_prune, hourly), and a user's are removed with
the account (tax_exports_delete_for_user).

While it runs the worker pushes progress to the export's group `tax_export.<id>` at most every
PROGRESS_SECONDS (the row is updated at the same pace), as
    {"kind": "tax_export", "export_id", "status", "phase": "reading" | "writing" | "",
     "records_done", "records_total", "rows_done", "rows_total", "size"}
and the final status always.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from compliance.tax.formats import (
    COINTRACKING_HEADER,
    FORM_8949_HEADER,
    GAINS_HEADER,
    KOINLY_HEADER,
    cointracking_rows,
    csv_lines,
    form8949_rows,
    gains_rows,
    koinly_rows,
)
from compliance.tax.pricing import CandlePrices
from compliance.tax.reports import tax_report_build, tax_year_settings, year_bounds
from compliance.tax.sources import tax_records, wallet_labels
from compliance.tax_models import TaxExport, TaxTransaction
from trading.models import Bot, Fill

logger = logging.getLogger(__name__)

YEAR_EXPORTS = {"gains": (GAINS_HEADER, gains_rows), "form8949": (FORM_8949_HEADER, form8949_rows)}
HISTORY_EXPORTS = {
    "koinly": (KOINLY_HEADER, koinly_rows),
    "cointracking": (COINTRACKING_HEADER, cointracking_rows),
}
PROGRESS_SECONDS = 0.5
# the run's and CI's general worker consumes it (config/run.py, docker-compose.yml)
TASK_QUEUE = "default"


def tax_year_check(year: int) -> int:
    """A tax year the reports know (2009-2100), else 404."""
    if not 2009 <= year <= 2100:
        raise Http404("no such tax year")
    return year


def _kind_check(kind: str, year: int | None) -> None:
    if kind in YEAR_EXPORTS:
        tax_year_check(year if year is not None else 0)
    elif kind not in HISTORY_EXPORTS:
        raise Http404("no such export")


def _records_end(kind: str, year: int | None, as_of: datetime) -> datetime:
    # the history formats take everything to a day past now, as the streamed download always did
    return year_bounds(year)[1] if kind in YEAR_EXPORTS else as_of + timedelta(days=1)


def export_record_count(*, user, kind: str, year: int | None, as_of: datetime) -> int:
    """How many records (fills and tax transactions) the export reads: what makes it slow."""
    _kind_check(kind, year)
    include_paper = kind in YEAR_EXPORTS and tax_year_settings(user=user, year=year).include_paper
    end = _records_end(kind, year, as_of)
    fills = Fill.objects.filter(user=user, executed_at__lt=end)
    if not include_paper:
        fills = fills.exclude(mode=Bot.Mode.PAPER)
    return fills.count() + TaxTransaction.objects.filter(user=user, occurred_at__lt=end).count()


def _counted(items: Iterable, tick: Callable[[], None] | None) -> Iterator:
    for item in items:
        if tick is not None:
            tick()
        yield item


def export_lines(
    *, user, kind: str, year: int | None, as_of: datetime, progress: ExportProgress | None = None
) -> Iterator[str]:
    """The export's CSV text, line by line; a year's lots are computed before it returns."""
    _kind_check(kind, year)
    reading = progress.record if progress else None
    writing = progress.row if progress else None
    if kind in YEAR_EXPORTS:
        header, rows = YEAR_EXPORTS[kind]
        report = tax_report_build(user=user, year=year, progress=reading)
        if progress:
            progress.writing(total=len(report.lines))
        return csv_lines(header, _counted(rows(report), writing))
    header, rows = HISTORY_EXPORTS[kind]
    labels = wallet_labels(user=user)
    label = lambda key: labels.get(key, key)  # noqa: E731
    records = tax_records(user=user, end=_records_end(kind, year, as_of))
    if progress:
        progress.writing(total=None)
    return csv_lines(header, _counted(rows(_counted(records, reading), CandlePrices(), label),
                                      writing))  # fmt: skip


def export_needs_worker(*, user, kind: str, year: int | None) -> bool:
    """True when the export reads more records than settings.TAX_EXPORT_ASYNC_THRESHOLD."""
    count = export_record_count(user=user, kind=kind, year=year, as_of=timezone.now())
    return count > settings.TAX_EXPORT_ASYNC_THRESHOLD


# -- the worker's side ---------------------------------------------------------------------
def tax_export_group(export_id: int) -> str:
    return f"tax_export.{export_id}"


def export_event(export: TaxExport) -> dict:
    """The progress event of an export as it is now (also the socket's first message)."""
    return {
        "kind": "tax_export", "export_id": export.pk, "status": export.status,
        "phase": export.phase, "records_done": export.records_done,
        "records_total": export.records_total, "rows_done": export.rows_done,
        "rows_total": export.rows_total, "size": export.size,
    }  # fmt: skip


def _publish(export: TaxExport) -> None:
    from trading.events import group_events_send

    group_events_send(groups=[tax_export_group(export.pk)], event=export_event(export))


PROGRESS_FIELDS = ["phase", "records_done", "records_total", "rows_done", "rows_total"]


class ExportProgress:
    """Counts what the worker read and wrote; saves and publishes at most every `every` s."""

    def __init__(self, export: TaxExport, *, clock=time.monotonic, every=PROGRESS_SECONDS):
        self.export, self.clock, self.every = export, clock, every
        self.last = clock()

    def record(self) -> None:
        self.export.records_done += 1
        self._maybe()

    def row(self) -> None:
        self.export.rows_done += 1
        self._maybe()

    def writing(self, *, total: int | None) -> None:
        self.export.phase, self.export.rows_total = "writing", total
        self._send()

    def _maybe(self) -> None:
        if self.clock() - self.last >= self.every:
            self._send()

    def _send(self) -> None:
        self.last = self.clock()
        TaxExport.objects.filter(pk=self.export.pk).update(
            **{name: getattr(self.export, name) for name in PROGRESS_FIELDS}
        )
        _publish(self.export)


def _user_dir(user_id: int) -> Path:
    return Path(settings.TAX_EXPORT_ROOT) / str(user_id)


def tax_export_path(export: TaxExport) -> Path:
    """Where the export's file is (only meaningful once it is done)."""
    return _user_dir(export.user_id) / export.file_name


def tax_export_start(*, user, kind: str, year: int | None) -> TaxExport:
    """Queue an export for a worker (the same kind and year already queued or running is
    reused, not queued twice); history formats take no year."""
    from compliance.tasks import tax_export_run_task

    year = year if kind in YEAR_EXPORTS else None
    _kind_check(kind, year)
    with transaction.atomic():
        pending = TaxExport.objects.select_for_update().filter(
            user=user, kind=kind, year=year,
            status__in=[TaxExport.Status.QUEUED, TaxExport.Status.RUNNING],
        ).first()  # fmt: skip
        if pending is not None:
            return pending
        now = timezone.now()
        export = TaxExport.objects.create(
            user=user, kind=kind, year=year, as_of=now,
            records_total=export_record_count(user=user, kind=kind, year=year, as_of=now),
        )  # fmt: skip
        export_id = export.pk
        transaction.on_commit(
            lambda: tax_export_run_task.apply_async([export_id], queue=TASK_QUEUE)
        )
    return export


def tax_export_run(*, export_id: int) -> TaxExport | None:
    """Write the export's file (a redelivered task starts it again; a finished one is left)."""
    export = TaxExport.objects.filter(pk=export_id).select_related("user").first()
    if export is None or export.finished:
        return export
    export.status, export.started_at, export.phase = TaxExport.Status.RUNNING, timezone.now(), ""
    export.records_done = export.rows_done = 0
    export.save(update_fields=["status", "started_at", "phase", "records_done", "rows_done"])
    export.phase = "reading"
    progress = ExportProgress(export)
    progress._send()
    try:
        name, size = _write(export, progress)
    except Exception as exc:
        logger.exception("tax export %s failed", export.pk)
        _finish(export, status=TaxExport.Status.FAILED, error=f"{exc.__class__.__name__}: {exc}")
        raise
    _finish(export, status=TaxExport.Status.DONE, file_name=name, size=size)
    return export


def _write(export: TaxExport, progress: ExportProgress) -> tuple[str, int]:
    folder = _user_dir(export.user_id)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{export.pk}-{secrets.token_hex(12)}.csv"
    partial = folder / f".{name}.part"
    lines = export_lines(
        user=export.user, kind=export.kind, year=export.year, as_of=export.as_of,
        progress=progress,
    )  # fmt: skip
    try:
        with partial.open("wb") as out:
            for line in lines:
                out.write(line.encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, folder / name)
    finally:
        partial.unlink(missing_ok=True)
    return name, (folder / name).stat().st_size


def _finish(export: TaxExport, *, status: str, **fields) -> None:
    now = timezone.now()
    export.status, export.finished_at, export.phase = status, now, ""
    export.expires_at = now + timedelta(hours=settings.TAX_EXPORT_RETENTION_HOURS)
    for name, value in fields.items():
        setattr(export, name, value)
    changed = ["status", "finished_at", "phase", "expires_at", *fields, *PROGRESS_FIELDS]
    export.save(update_fields=list(dict.fromkeys(changed)))
    _publish(export)


# -- retention -------------------------------------------------------------------------------
def _file_remove(export: TaxExport) -> None:
    if export.file_name:
        tax_export_path(export).unlink(missing_ok=True)


def tax_export_delete(*, export: TaxExport) -> None:
    """Delete one export, its file once the row's deletion commits."""
    with transaction.atomic():
        TaxExport.objects.filter(pk=export.pk).delete()
        transaction.on_commit(lambda: _file_remove(export))


def tax_export_prune(*, now: datetime | None = None) -> int:
    """Delete expired exports and their files, and folders of users that are gone; how many."""
    from django.contrib.auth import get_user_model

    expired = list(TaxExport.objects.filter(expires_at__lte=now or timezone.now()))
    for export in expired:
        tax_export_delete(export=export)
    root = Path(settings.TAX_EXPORT_ROOT)
    if root.is_dir():
        users = set(get_user_model().objects.values_list("pk", flat=True))
        for folder in root.iterdir():
            if folder.is_dir() and folder.name.isdigit() and int(folder.name) not in users:
                shutil.rmtree(folder, ignore_errors=True)
    return len(expired)


def tax_exports_delete_for_user(*, user) -> None:
    """With the account: the user's export folder goes once the deletion commits (the rows
    cascade with the user)."""
    folder = _user_dir(user.pk)
    transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
