"""Re-wrap every stored secret (exchange credentials, notification destinations, authenticator
seeds) under the newest master key.

Add a new key at the end of PEREGRINE_MASTER_KEYS (or its _FILE), run this command, then remove
the old keys. With --drop-old the command checks that nothing still needs an old key and, when
keys come from PEREGRINE_MASTER_KEYS_FILE, rewrites that file to hold only the newest key.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.totp_seeds import totp_sealed_key_ids_in_use, totp_seed_rewrap_all
from exchanges.services.credentials import (
    exchange_account_rewrap_all,
    keyring,
    sealed_key_ids_in_use,
)
from notifications.services import (
    notification_channel_rewrap_all,
    notification_sealed_key_ids_in_use,
)


class Command(BaseCommand):
    help = "Re-wrap every stored secret under the newest master key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--drop-old",
            action="store_true",
            help="After re-wrapping, drop the old keys (rewrites PEREGRINE_MASTER_KEYS_FILE).",
        )

    def handle(self, *args, drop_old: bool = False, **options):
        ring = keyring()
        counts = exchange_account_rewrap_all()
        self.stdout.write(
            f"Re-wrapped {counts['rewrapped']} secret(s) in {counts['accounts']} exchange "
            f"account(s) under master key {ring.newest.key_id}."
        )
        channels = notification_channel_rewrap_all()
        self.stdout.write(f"Re-wrapped {channels} notification destination(s).")
        seeds = totp_seed_rewrap_all()
        self.stdout.write(f"Re-wrapped {seeds} authenticator seed(s).")
        in_use = (
            sealed_key_ids_in_use()
            | notification_sealed_key_ids_in_use()
            | totp_sealed_key_ids_in_use()
        )
        if in_use - {ring.newest.key_id}:
            raise CommandError(f"Secrets still wrapped by old keys: {sorted(in_use)}")
        old = [key_id for key_id in ring.key_ids if key_id != ring.newest.key_id]
        if not drop_old:
            if old:
                self.stdout.write(f"Old keys no longer needed: {', '.join(old)}.")
            return
        keys_file = os.environ.get("PEREGRINE_MASTER_KEYS_FILE")
        if keys_file:
            from django.conf import settings

            Path(keys_file).write_text(settings.PEREGRINE_MASTER_KEYS[-1] + "\n")
            self.stdout.write(f"Dropped {len(old)} old key(s) from {keys_file}.")
        else:
            self.stdout.write(
                f"Nothing uses the old key(s) {', '.join(old) or '-'}: remove them from "
                "PEREGRINE_MASTER_KEYS and restart."
            )
