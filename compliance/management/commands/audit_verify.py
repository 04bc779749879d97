"""manage.py audit_verify: recompute the audit hash chain, check the anchors, name the first
broken link (exit status 1) or say how many events and anchors hold (exit status 0), and which
key verified the anchors (per key; each anchor with -v 2)."""

from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from compliance.models import AuditAnchor
from compliance.selectors import audit_chain_verify
from compliance.services import audit_anchor_create


class Command(BaseCommand):
    help = "Verify the audit log's hash chain and its signed anchors."

    def add_arguments(self, parser):
        parser.add_argument(
            "--anchor",
            action="store_true",
            help="Sign the chain head as a new anchor after a pass.",
        )

    def handle(self, *args, anchor: bool = False, **options):
        report = audit_chain_verify()
        if not report.ok:
            broken = report.breaks
            where = f"event #{broken.seq}" if broken.seq is not None else "an event"
            if broken.event_id is not None:
                where += f" (id {broken.event_id})"
            raise CommandError(
                f"Audit chain BROKEN at {where}: {broken.reason}. "
                f"{report.events} event(s) before it verified."
            )
        self.stdout.write(
            f"Audit chain OK: {report.events} event(s), head #{report.head_seq}, "
            f"{report.anchors} anchor(s) verified."
        )
        self._keys(report.anchor_keys, verbose=options.get("verbosity", 1) >= 2)
        if anchor:
            made = audit_anchor_create()
            self.stdout.write(f"New anchor at #{made.seq}." if made else "No new event to anchor.")

    def _keys(self, anchor_keys: dict, *, verbose: bool) -> None:
        per_key = Counter((key.key_id, key.label) for key in anchor_keys.values())
        for (key_id, label), count in sorted(per_key.items()):
            self.stdout.write(f"  key {key_id or '-'} ({label}): {count} anchor(s)")
        if verbose:
            for row in AuditAnchor.objects.filter(pk__in=anchor_keys).order_by("seq", "id"):
                key = anchor_keys[row.pk]
                self.stdout.write(
                    f"  anchor {row.pk} at #{row.seq} ({row.created_at:%Y-%m-%d %H:%M:%S}):"
                    f" key {key.key_id or '-'} ({key.label})"
                )
