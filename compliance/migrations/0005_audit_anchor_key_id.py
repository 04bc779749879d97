"""Anchors record the id of the key that signed them (AUDIT_ANCHOR_KEY, apart from SECRET_KEY).

Existing anchors keep an empty key_id: they were signed with the key derived from SECRET_KEY,
which the verifier still uses for them. Adding a column is not an UPDATE, so the append-only
trigger does not object.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("compliance", "0004_tax_lots")]

    operations = [
        migrations.AddField(
            model_name="auditanchor",
            name="key_id",
            field=models.CharField(blank=True, db_default="", max_length=16),
        ),
    ]
