"""Fingerprints for the keys of accounts stored before fingerprints existed (one-user-per-key)."""

from django.db import migrations


def backfill(apps, schema_editor):
    from exchanges.services.credentials import exchange_account_fingerprints_backfill

    exchange_account_fingerprints_backfill(model=apps.get_model("exchanges", "ExchangeAccount"))


class Migration(migrations.Migration):
    dependencies = [
        ("exchanges", "0002_api_key_fingerprint"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
