"""The audit log is a hash chain: verify proves it, names the first broken link, and parallel
writers still build one gapless chain."""

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.utils import DatabaseError

from compliance.audit_chain import GENESIS
from compliance.models import AuditAnchor, AuditEvent
from compliance.selectors import audit_chain_verify
from compliance.services import audit_anchor_create, audit_chain_unchained, audit_record


def _behind_the_trigger(sql: str, params=()) -> None:
    """Change the table as someone with database access would: trigger off, statement, on."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE compliance_auditevent DISABLE TRIGGER compliance_auditevent_append_only"
        )
        cursor.execute(sql, params)
        cursor.execute(
            "ALTER TABLE compliance_auditevent ENABLE TRIGGER compliance_auditevent_append_only"
        )


def _verify_output() -> str:
    from io import StringIO

    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def _events(alice, n=5):
    return [
        audit_record(
            actor=alice,
            action=f"test.event{i}",
            ip="2001:0db8:0000:0000:0000:0000:0000:0001" if i % 2 else "10.0.0.1",
            after={"n": i, "price": 1.0 * i, "ratio": 0.1 + 0.2, "name": "Zoë ✓", "nested": [i]},
        )
        for i in range(n)
    ]


def test_events_link_to_the_one_before_and_verify_passes(alice):
    events = _events(alice)
    first = AuditEvent.objects.order_by("seq").first()
    assert first.prev_hash == GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after.seq == before.seq + 1 and after.prev_hash == before.hash
    assert f"{len(events)} event(s)" in _verify_output()


def test_a_row_changed_behind_the_trigger_fails_verify_naming_it(alice):
    events = _events(alice)
    target = events[2]
    _behind_the_trigger(
        "UPDATE compliance_auditevent SET action = 'harmless.looking' WHERE id = %s", [target.pk]
    )
    with pytest.raises(CommandError, match=rf"#{target.seq} \(id {target.pk}\).*changed"):
        call_command("audit_verify")
    report = audit_chain_verify()
    assert report.breaks.event_id == target.pk and report.events == 2


def test_a_rewritten_json_value_fails_verify(alice):
    events = _events(alice)
    _behind_the_trigger(
        """UPDATE compliance_auditevent SET "after" = jsonb_set("after", '{n}', '99')
        WHERE id = %s""",
        [events[1].pk],
    )
    assert audit_chain_verify().breaks.event_id == events[1].pk


def test_a_deleted_row_is_named_as_a_gap(alice):
    events = _events(alice)
    _behind_the_trigger("DELETE FROM compliance_auditevent WHERE id = %s", [events[1].pk])
    with pytest.raises(CommandError, match=rf"#{events[2].seq}.*#{events[1].seq}.*missing"):
        call_command("audit_verify")


def test_a_consistently_rehashed_chain_still_fails_against_its_anchor(alice):
    """Whoever rewrites an event and recomputes every later hash cannot forge the anchor."""
    from compliance.audit_chain import event_hash

    events = _events(alice)
    anchor = audit_anchor_create()
    assert anchor.seq == events[-1].seq
    _behind_the_trigger(
        "UPDATE compliance_auditevent SET action = 'x' WHERE id = %s", [events[0].pk]
    )
    prev = GENESIS
    for row in AuditEvent._base_manager.order_by("seq").values():
        row["prev_hash"] = prev
        row["hash"] = event_hash(row)
        _behind_the_trigger(
            "UPDATE compliance_auditevent SET prev_hash = %s, hash = %s WHERE id = %s",
            [row["prev_hash"], row["hash"], row["id"]],
        )
        prev = row["hash"]
    report = audit_chain_verify()
    assert report.breaks.seq == anchor.seq and "anchor" in report.breaks.reason


def test_removing_the_newest_events_shows_against_the_anchor(alice):
    events = _events(alice)
    audit_anchor_create()
    _behind_the_trigger("DELETE FROM compliance_auditevent WHERE id = %s", [events[-1].pk])
    report = audit_chain_verify()
    assert not report.ok and "gone" in report.breaks.reason


def test_a_forged_anchor_fails_its_signature(alice):
    _events(alice, 2)
    anchor = audit_anchor_create()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO compliance_auditanchor (created_at, seq, head_hash, mac) "
            "VALUES (now(), %s, %s, %s)",
            [anchor.seq, anchor.head_hash, "0" * 64],
        )
    report = audit_chain_verify()
    assert not report.ok and "signature" in report.breaks.reason


def test_anchors_are_append_only_and_made_only_for_new_events(alice):
    _events(alice, 2)
    anchor = audit_anchor_create()
    assert audit_anchor_create() is None  # nothing new since
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM compliance_auditanchor WHERE id = %s", [anchor.pk])
    audit_record(actor=alice, action="later")
    assert audit_anchor_create().seq == anchor.seq + 1
    assert "2 anchor(s)" in _verify_output()


def test_events_from_before_the_chain_are_linked_in_and_a_chained_event_cannot_be(alice):
    """What migration 0003 does to existing events (it calls the same function)."""
    audit_record(actor=alice, action="chained.first")
    with connection.cursor() as cursor:
        for i, when in enumerate(["2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"]):
            cursor.execute(
                "INSERT INTO compliance_auditevent (created_at, actor_email, action, target_type, "
                "target_id, target_repr, prev_hash, hash) "
                "VALUES (%s, 'old@example.com', %s, '', '', '', '', '')",
                [when, f"old.event{i}"],
            )
    report = audit_chain_verify()
    assert not report.ok and "not linked" in report.breaks.reason
    assert audit_chain_unchained() == 2
    linked = list(AuditEvent.objects.filter(actor_email="old@example.com").order_by("seq"))
    assert [e.action for e in linked] == ["old.event1", "old.event0"]  # oldest first
    assert audit_chain_verify().ok
    with pytest.raises(DatabaseError, match="append-only"):  # once linked, never again
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE compliance_auditevent SET seq = seq + 100 WHERE id = %s", [linked[0].pk]
            )
    with pytest.raises(DatabaseError, match="append-only"):  # linking may not change contents
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO compliance_auditevent (created_at, actor_email, action, target_type,"
                " target_id, target_repr, prev_hash, hash) "
                "VALUES (now(), '', 'old', '', '', '', '', '') RETURNING id"
            )
            new_id = cursor.fetchone()[0]
            cursor.execute(
                "UPDATE compliance_auditevent SET seq = 999, action = 'other' WHERE id = %s",
                [new_id],
            )


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_build_one_gapless_chain(alice):
    writers, per_writer = 6, 15
    barrier = threading.Barrier(writers)
    errors = []

    def write(n):
        try:
            barrier.wait(timeout=30)
            for i in range(per_writer):
                with transaction.atomic():  # a service's transaction around its audit event
                    audit_record(actor=alice, action=f"writer{n}.{i}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(seqs[0], seqs[0] + writers * per_writer))
    assert audit_chain_verify().ok


def test_beat_signs_an_anchor_every_hour(alice, settings):
    from compliance.tasks import audit_anchor_task

    entry = settings.CELERY_BEAT_SCHEDULE["compliance-audit-anchor"]
    assert entry["task"] == audit_anchor_task.name
    audit_record(actor=alice, action="test.event")
    assert audit_anchor_task() == AuditEvent.objects.order_by("-seq").first().seq
    assert audit_anchor_task() is None and AuditAnchor.objects.count() == 1
