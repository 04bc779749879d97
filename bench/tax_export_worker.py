"""Tax exports through the worker's path: a 100,000-fill year written to a file by
tax_export_run (what the Celery task calls), each export's seconds and the progress updates it
saved, and its bytes compared with the streamed download's.

Data: as bench/tax_export.py (real Binance BTC/USDT and ETH/USDT 1m closes from
$PEREGRINE_DATA_DIR replayed into 2025 as live fills of a scratch user, deleted afterwards).
Runs in this process (a warm process after the first export), with the files in a temporary
folder; the queue and the worker's start-up are not timed (tests/compliance/
test_tax_export_jobs.py runs a real worker). Wall and CPU seconds are both printed: on a shared
machine the wall time includes waiting for the CPU and the database.

Run: python bench/tax_export_worker.py [--fills N]   (needs DATABASE_URL, migrated)
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
import uuid
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "tax_export", Path(__file__).with_name("tax_export.py")
)
base = importlib.util.module_from_spec(spec)
spec.loader.exec_module(base)  # sets up Django as bench/tax_export.py does

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402

from compliance.tax.exports import tax_export_path, tax_export_run  # noqa: E402
from compliance.tax_models import TaxExport  # noqa: E402
from compliance.tax_views import history_export_response, year_export_response  # noqa: E402
from trading.models import Bot, Fill, Order  # noqa: E402

YEAR = base.YEAR


def streamed(user, kind: str) -> bytes:
    if kind in ("gains", "form8949"):
        return b"".join(year_export_response(user, YEAR, kind).streaming_content)
    return b"".join(history_export_response(user, kind).streaming_content)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fills", type=int, default=100_000)
    args = parser.parse_args()
    if not all((Path(settings.PEREGRINE_DATA_DIR) / n).is_file() for n in base.FILES.values()):
        print(f"skipped: the data files are not in {settings.PEREGRINE_DATA_DIR}")
        return
    settings.TAX_EXPORT_ROOT = Path(tempfile.mkdtemp(prefix="bench-tax-exports-"))
    user = get_user_model().objects.create_user(
        email=f"bench-taxw-{uuid.uuid4().hex[:8]}@example.com", password=uuid.uuid4().hex
    )
    try:
        t = time.perf_counter()
        base.make_fills(user, args.fills)
        print(f"setup: {args.fills:,} live fills of {YEAR} in {time.perf_counter() - t:.1f} s")
        for kind in ("gains", "form8949", "koinly", "cointracking"):
            year = YEAR if kind in ("gains", "form8949") else None
            export = TaxExport.objects.create(
                user=user, kind=kind, year=year, as_of=timezone.now(), records_total=args.fills
            )
            t, cpu = time.perf_counter(), time.process_time()
            tax_export_run(export_id=export.pk)
            wall, used = time.perf_counter() - t, time.process_time() - cpu
            export.refresh_from_db()
            written = tax_export_path(export).read_bytes()
            same = written == streamed(user, kind)
            print(f"worker {kind:<13} {wall:6.2f} s wall {used:6.2f} s CPU  "
                  f"{export.rows_done:>8,} rows  {export.size / 1e6:5.1f} MB  "
                  f"byte-identical to the stream: {same}")  # fmt: skip
            tax_export_path(export).unlink()
    finally:
        TaxExport.objects.filter(user=user).delete()
        Fill.objects.filter(user=user).delete()
        Order.objects.filter(user=user).delete()
        Bot.objects.filter(user=user).delete()
        user.delete()


if __name__ == "__main__":
    main()
