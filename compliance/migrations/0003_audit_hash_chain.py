"""The audit log becomes a hash chain: seq, prev_hash and hash on every event, signed anchors.

The events written before the chain are chained here, oldest first. The append-only trigger now
lets an UPDATE through only when it links an unchained event (seq was NULL) and leaves every
other column as it was; a chained event can never change. Anchors are append-only too.
"""

import django.utils.timezone
from django.db import migrations, models

TRIGGER = """
CREATE OR REPLACE FUNCTION compliance_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
       AND (OLD.id, OLD.created_at, OLD.actor_id, OLD.actor_email, OLD.action, OLD.target_type,
            OLD.target_id, OLD.target_repr, OLD.ip, OLD.before, OLD.after)
           IS NOT DISTINCT FROM
           (NEW.id, NEW.created_at, NEW.actor_id, NEW.actor_email, NEW.action, NEW.target_type,
            NEW.target_id, NEW.target_repr, NEW.ip, NEW.before, NEW.after) THEN
        RETURN NEW;  -- linking a pre-chain event into the chain, nothing else
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION compliance_auditanchor_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit anchors are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER compliance_auditanchor_append_only
    BEFORE UPDATE OR DELETE ON compliance_auditanchor
    FOR EACH ROW EXECUTE FUNCTION compliance_auditanchor_append_only();
"""

UNTRIGGER = """
DROP TRIGGER IF EXISTS compliance_auditanchor_append_only ON compliance_auditanchor;
DROP FUNCTION IF EXISTS compliance_auditanchor_append_only();
CREATE OR REPLACE FUNCTION compliance_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def chain_existing(apps, schema_editor):
    from compliance.services import audit_chain_unchained

    audit_chain_unchained(model=apps.get_model("compliance", "AuditEvent"))


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_audit_event_append_only")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(blank=True, editable=False, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.CreateModel(
            name="AuditAnchor",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("seq", models.BigIntegerField()),
                ("head_hash", models.CharField(max_length=64)),
                ("mac", models.CharField(max_length=64)),
            ],
            options={"ordering": ["-seq", "-id"]},
        ),
        migrations.RunSQL(TRIGGER, UNTRIGGER),
        migrations.RunPython(chain_existing, migrations.RunPython.noop),
    ]
