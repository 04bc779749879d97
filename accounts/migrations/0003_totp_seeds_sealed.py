"""Authenticator seeds move out of otp_totp_totpdevice.key into sealed TOTPSecret rows."""

import django.db.models.deletion
from django.db import migrations, models


def seal(apps, schema_editor):
    from accounts.totp_seeds import seal_existing

    seal_existing(apps.get_model("otp_totp", "TOTPDevice"), apps.get_model("accounts", "TOTPSecret"))


def unseal(apps, schema_editor):
    from accounts.totp_seeds import unseal_all

    unseal_all(apps.get_model("otp_totp", "TOTPDevice"), apps.get_model("accounts", "TOTPSecret"))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_sessions_second_factor_api_tokens"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="TOTPSecret",
            fields=[
                (
                    "device",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="sealed_seed",
                        serialize=False,
                        to="otp_totp.totpdevice",
                    ),
                ),
                ("sealed", models.TextField()),
            ],
        ),
        migrations.CreateModel(
            name="AuthenticatorDevice",
            fields=[],
            options={
                "verbose_name": "authenticator app",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("otp_totp.totpdevice",),
        ),
        migrations.RunPython(seal, unseal),
    ]
