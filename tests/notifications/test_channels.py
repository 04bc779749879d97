"""Channel destinations: checked per kind, sealed to their row, never shown again."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from exchanges import crypto
from notifications.models import DeliveryLog, NotificationChannel
from notifications.services import (
    notification_channel_create,
    notification_channel_rewrap_all,
    notification_channel_target,
    notification_channel_update,
    notification_deliver,
    notification_sealed_key_ids_in_use,
)

SECRET_PATH = "/hooks/CANARY-HOOK-TOKEN-9f8e7d"


def _create(user, **kwargs):
    defaults = {"kind": "webhook", "label": "hook", "events": ["fill"]}
    return notification_channel_create(user=user, **{**defaults, **kwargs})


def test_destination_is_stored_sealed_and_hinted_without_its_token(alice):
    channel = _create(alice, target=f"https://hooks.example.com{SECRET_PATH}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM notifications_notificationchannel WHERE id = %s", [channel.pk]
        )
        row = " ".join(str(value) for value in cursor.fetchone())
    assert "CANARY-HOOK-TOKEN" not in row
    assert channel.target_hint == "jsons://hooks.example.com/…"
    assert notification_channel_target(channel=channel) == f"jsons://hooks.example.com{SECRET_PATH}"


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("webhook", "not a url"),
        ("webhook", "discord://1234567890/abcdefghijklmnop"),
        ("discord", "json://example.com/hook"),
        ("telegram", "tgram://"),
        ("slack", "https://example.com/services/x"),
        ("email", "someone-else@example.com"),
        ("email", "not-an-address"),
        ("webhook", ""),
    ],
)
def test_wrong_destination_for_the_kind_is_a_field_error_and_saves_nothing(alice, kind, target):
    with pytest.raises(ValidationError) as error:
        _create(alice, kind=kind, target=target)
    assert "target" in error.value.message_dict
    assert not NotificationChannel.objects.exists()


@pytest.mark.parametrize(
    ("kind", "target", "hint_start"),
    [
        (
            "discord",
            "https://discord.com/api/webhooks/1234567890/abcdefghijklmnopqrst",
            "discord://",
        ),
        ("slack", "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkc", "slack://"),
        ("telegram", "tgram://123456789:ABCdefGhIJKlmnOPQRstUVwxyz1234567/12345", "tgram://"),
        ("email", "alice@example.com", "alice@example.com"),
        ("webhook", "form://hooks.example.com/peregrine", "form://hooks.example.com/…"),
    ],
)
def test_each_kind_accepts_its_own_destinations(alice, kind, target, hint_start):
    channel = _create(alice, kind=kind, target=target, label=kind)
    assert channel.target_hint.startswith(hint_start)
    for secret in ("abcdefghijklmnopqrst", "TIiajkdnlazkc", "ABCdefGhIJKlmnOPQRstUVwxyz"):
        assert secret not in channel.target_hint


def test_unknown_events_and_duplicate_labels_are_field_errors(alice):
    _create(alice, target="https://hooks.example.com/a")
    with pytest.raises(ValidationError) as error:
        _create(alice, target="https://hooks.example.com/b", events=["fill", "moon"])
    assert set(error.value.message_dict) == {"label", "events"}
    assert NotificationChannel.objects.count() == 1


def test_private_hosts_are_refused_outside_development(alice, settings):
    settings.PEREGRINE_NOTIFY_ALLOW_PRIVATE_HOSTS = False
    for target in (
        "json://127.0.0.1:8080/hook",
        "https://10.0.0.5/hook",
        "http://169.254.169.254/latest",
        "mailtos://u:p@localhost?to=a@b.com",
    ):
        kind = "email" if target.startswith("mailto") else "webhook"
        with pytest.raises(ValidationError) as error:
            _create(alice, kind=kind, target=target)
        assert "private or local" in error.value.message_dict["target"][0], target


def test_a_host_that_became_private_is_refused_at_delivery(alice, settings):
    channel = _create(alice, target="json://127.0.0.1:9/hook")
    delivery = DeliveryLog.objects.create(
        channel=channel, user=alice, event="fill", title="t", body="b"
    )
    settings.PEREGRINE_NOTIFY_ALLOW_PRIVATE_HOSTS = False
    notification_deliver(delivery_id=delivery.pk)
    channel.refresh_from_db()
    assert channel.enabled is False and "private or local" in channel.disabled_reason


def test_a_destination_copied_into_another_users_channel_does_not_open(alice, bob):
    alices = _create(alice, target="https://hooks.example.com/alice")
    bobs = _create(bob, target="https://hooks.example.com/bob")
    NotificationChannel.objects.filter(pk=bobs.pk).update(
        target_ciphertext=alices.target_ciphertext
    )
    bobs.refresh_from_db()
    with pytest.raises(crypto.DecryptionError):
        notification_channel_target(channel=bobs)


def test_new_destination_reseals_under_a_new_version_and_enables_again(alice):
    channel = _create(alice, target="https://hooks.example.com/old")
    NotificationChannel.objects.filter(pk=channel.pk).update(enabled=False, disabled_reason="404")
    channel.refresh_from_db()
    channel = notification_channel_update(
        channel=channel, label="hook", events=["fill"], target="https://hooks.example.com/new"
    )
    assert channel.key_version == 2 and channel.enabled and channel.disabled_reason == ""
    assert notification_channel_target(channel=channel) == "jsons://hooks.example.com/new"


def test_rotation_rewraps_destinations_under_the_newest_master_key(alice, settings):
    import base64
    import os

    channel = _create(alice, target="https://hooks.example.com/rotate")
    old_ids = notification_sealed_key_ids_in_use()
    settings.PEREGRINE_MASTER_KEYS = [
        *settings.PEREGRINE_MASTER_KEYS,
        base64.b64encode(os.urandom(32)).decode(),
    ]
    assert notification_channel_rewrap_all() == 1
    new_ids = notification_sealed_key_ids_in_use()
    assert new_ids != old_ids and len(new_ids) == 1
    settings.PEREGRINE_MASTER_KEYS = settings.PEREGRINE_MASTER_KEYS[-1:]
    channel.refresh_from_db()
    assert notification_channel_target(channel=channel) == "jsons://hooks.example.com/rotate"


def test_rotate_master_key_command_covers_notification_destinations(alice, settings):
    import base64
    import io
    import os

    from django.core.management import call_command

    channel = _create(alice, target="https://hooks.example.com/cmd")
    settings.PEREGRINE_MASTER_KEYS = [
        *settings.PEREGRINE_MASTER_KEYS,
        base64.b64encode(os.urandom(32)).decode(),
    ]
    out = io.StringIO()
    call_command("rotate_master_key", stdout=out)
    assert "Re-wrapped 1 notification destination(s)." in out.getvalue()
    settings.PEREGRINE_MASTER_KEYS = settings.PEREGRINE_MASTER_KEYS[-1:]
    channel.refresh_from_db()
    assert notification_channel_target(channel=channel) == "jsons://hooks.example.com/cmd"
