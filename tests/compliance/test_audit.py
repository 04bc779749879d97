"""The audit trail: append-only in code and in Postgres; users see only their own events."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.urls import reverse

from compliance.models import AuditEvent
from compliance.services import audit_record


def test_audit_record_scrubs_secret_values(alice):
    event = audit_record(
        actor=alice,
        action="test.secret",
        ip="10.0.0.1",
        after={
            "secret": "s3cr3t-value",
            "api_key_last4": "abcd",
            "password": "hunter2hunter2",
            "label": "main",
        },
    )
    event.refresh_from_db()
    assert event.after["secret"] != "s3cr3t-value"
    assert event.after["password"] != "hunter2hunter2"
    assert event.after["api_key_last4"] == "abcd" and event.after["label"] == "main"
    assert event.actor_email == "alice@example.com" and event.ip == "10.0.0.1"


def test_audit_events_cannot_be_changed_or_deleted_through_the_orm(alice):
    event = audit_record(actor=alice, action="test.event")
    event.action = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE compliance_auditevent SET action = 'rewritten' WHERE id = %s",
        "DELETE FROM compliance_auditevent WHERE id = %s",
    ],
)
def test_postgres_refuses_update_and_delete(alice, statement):
    event = audit_record(actor=alice, action="test.event")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_deleting_a_user_keeps_their_history(alice):
    audit_record(actor=alice, action="test.event")
    alice.delete()
    assert AuditEvent.objects.filter(actor_email="alice@example.com").count() == 1


def test_security_log_shows_only_the_users_own_events(alice, bob, alice_client):
    audit_record(actor=alice, action="alice.did.this")
    audit_record(actor=bob, action="bob.did.that")
    response = alice_client.get(reverse("compliance:security-log"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "alice.did.this" in body and "bob.did.that" not in body
    partial = alice_client.get(reverse("compliance:security-log"), HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode()


def test_security_log_needs_login(client, db):
    response = client.get(reverse("compliance:security-log"))
    assert response.status_code == 302 and "login" in response.url


def test_every_sensitive_action_leaves_an_event(alice, alice_otp_client):
    from exchanges.services.credentials import (
        exchange_account_create,
        exchange_account_delete,
        exchange_account_replace_keys,
        exchange_account_update,
    )

    account = exchange_account_create(
        user=alice,
        exchange="sandbox",
        label="a",
        mode="paper",
        api_key="KEY-12345678",
        secret="secret-1",
    )
    account = exchange_account_update(account=account, label="a", mode="live")
    account = exchange_account_replace_keys(
        account=account, api_key="KEY-87654321", secret="secret-2"
    )
    exchange_account_delete(account=account)
    alice_otp_client.post(reverse("accounts:token-create"), {"name": "t", "scope": "read"})
    alice_otp_client.post(reverse("accounts:two-factor-disable"), {"code": "000000"})
    actions = set(AuditEvent.objects.filter(actor=alice).values_list("action", flat=True))
    assert {
        "exchange_account.create",
        "exchange_account.update",
        "exchange_account.replace_keys",
        "exchange_account.delete",
        "api_token.create",
        "login",
        "two_factor.failure",
    } <= actions


def test_security_log_shows_failed_logins_to_the_users_address_only(alice, bob, alice_client):
    from django.test import Client

    client = Client()  # a second browser: alice_client is signed in
    client.post(reverse("account_login"), {"login": alice.email, "password": "wrong-guess"})
    client.post(reverse("account_login"), {"login": bob.email, "password": "wrong-guess"})
    events = list(alice_client.get(reverse("compliance:security-log")).context["page"])
    failed = [e for e in events if e.action == "login.failed"]
    assert [e.after["email"] for e in failed] == ["alice@example.com"]
