"""Notification pages and API: alice owns her channels, bob gets 404, anonymous logs in,
and a destination is never rendered or returned after it is saved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications.models import DeliveryLog, NotificationChannel
from notifications.services import notification_channel_create

CANARY = "CANARY-DEST-7c6b5a4d3e"


@pytest.fixture
def alice_channel(alice):
    return notification_channel_create(
        user=alice,
        kind="webhook",
        label="alice-ops-hook",
        target=f"https://hooks.example.com/{CANARY}",
        events=["fill", "bot_error"],
    )


def _snapshot(channel):
    return NotificationChannel.objects.filter(pk=channel.pk).values().get()


def _object_pages(channel):
    return [
        reverse("notifications:channel-update", args=[channel.pk]),
        reverse("notifications:channel-delete", args=[channel.pk]),
    ]


def _object_actions(channel):
    return [
        reverse("notifications:channel-toggle", args=[channel.pk]),
        reverse("notifications:channel-test", args=[channel.pk]),
    ]


def test_alice_sees_her_channel_and_never_its_destination(alice_client, alice_channel):
    listing = alice_client.get(reverse("notifications:channel-list"))
    html = listing.content.decode()
    assert listing.status_code == 200 and "alice-ops-hook" in html
    assert "jsons://hooks.example.com/…" in html and CANARY not in html
    for url in _object_pages(alice_channel):
        response = alice_client.get(url)
        assert response.status_code == 200 and CANARY not in response.content.decode(), url


def test_bob_gets_404_everywhere_and_alices_channel_is_unchanged(alice_channel, bob_client):
    before = _snapshot(alice_channel)
    listing = bob_client.get(reverse("notifications:channel-list")).content.decode()
    assert "alice-ops-hook" not in listing
    for url in _object_pages(alice_channel):
        assert bob_client.get(url).status_code == 404, url
    for url in [*_object_pages(alice_channel), *_object_actions(alice_channel)]:
        response = bob_client.post(
            url, {"label": "pwned", "events": ["fill"], "target": "https://evil.example/x"}
        )
        assert response.status_code == 404, url
    assert _snapshot(alice_channel) == before
    assert not DeliveryLog.objects.exists()


def test_anonymous_is_sent_to_login_and_nothing_changes(alice_channel, client):
    before = _snapshot(alice_channel)
    urls = [
        reverse("notifications:channel-list"),
        reverse("notifications:channel-create"),
        *_object_pages(alice_channel),
        *_object_actions(alice_channel),
    ]
    for url in urls:
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 302 and "login" in response.url, (method, url)
    assert _snapshot(alice_channel) == before


def test_alice_adds_a_channel(alice_client, alice):
    response = alice_client.post(
        reverse("notifications:channel-create"),
        {
            "kind": "webhook",
            "label": "desk",
            "target": f"https://hooks.example.com/{CANARY}",
            "events": ["fill", "daily_summary"],
            "arbitrage_min_spread_pct": "0.75",
        },
    )
    assert response.status_code == 302
    channel = NotificationChannel.objects.get(user=alice)
    assert channel.events == ["fill", "daily_summary"]
    assert str(channel.arbitrage_min_spread_pct) == "0.7500"
    page = alice_client.get(reverse("notifications:channel-list")).content.decode()
    assert "desk" in page and CANARY not in page


def test_a_bad_destination_is_a_field_error_and_is_not_echoed(alice_client):
    response = alice_client.post(
        reverse("notifications:channel-create"),
        {"kind": "discord", "label": "d", "target": f"json://x/{CANARY}", "events": ["fill"]},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid URL" in html and CANARY not in html
    assert not NotificationChannel.objects.exists()


def test_adding_a_channel_needs_recent_auth(alice_stale_client):
    response = alice_stale_client.get(reverse("notifications:channel-create"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:confirm-identity"))


def test_changing_the_destination_needs_recent_auth_but_events_do_not(
    alice_stale_client, alice_channel
):
    url = reverse("notifications:channel-update", args=[alice_channel.pk])
    response = alice_stale_client.post(
        url, {"label": "renamed", "events": ["fill"], "arbitrage_min_spread_pct": "1"}
    )
    assert response.status_code == 302
    alice_channel.refresh_from_db()
    assert alice_channel.label == "renamed" and alice_channel.events == ["fill"]
    response = alice_stale_client.post(
        url,
        {
            "label": "renamed",
            "events": ["fill"],
            "arbitrage_min_spread_pct": "1",
            "target": "https://evil.example/steal",
        },
    )
    assert response.url.startswith(reverse("accounts:confirm-identity"))
    alice_channel.refresh_from_db()
    assert alice_channel.key_version == 1


def test_htmx_toggle_returns_the_channel_table(alice_client, alice_channel):
    response = alice_client.post(
        reverse("notifications:channel-toggle", args=[alice_channel.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "Switch on" in html and "Switched off by you." in html
    alice_channel.refresh_from_db()
    assert alice_channel.enabled is False


def test_test_button_logs_a_delivery(
    alice_client, alice_channel, django_capture_on_commit_callbacks
):
    url = reverse("notifications:channel-test", args=[alice_channel.pk])
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_client.post(url)
    assert response.status_code == 302
    assert DeliveryLog.objects.get().event == "test"


def test_delete_removes_the_channel(alice_client, alice_channel):
    response = alice_client.post(reverse("notifications:channel-delete", args=[alice_channel.pk]))
    assert response.status_code == 302
    assert not NotificationChannel.objects.exists()


def test_api_lists_own_channels_without_destinations(
    client, alice, bob, alice_channel, api_token_for
):
    alice_token, bob_token = api_token_for(alice), api_token_for(bob)
    response = client.get(
        "/api/v1/notification-channels/", HTTP_AUTHORIZATION=f"Bearer {alice_token}"
    )
    assert response.status_code == 200
    assert [row["label"] for row in response.json()] == ["alice-ops-hook"]
    assert CANARY not in response.content.decode()
    assert "target_ciphertext" not in response.json()[0]
    detail = f"/api/v1/notification-channels/{alice_channel.pk}/"
    assert client.get(detail, HTTP_AUTHORIZATION=f"Bearer {bob_token}").status_code == 404
    assert client.get(detail).status_code in (401, 403)
    bobs = client.get("/api/v1/notification-channels/", HTTP_AUTHORIZATION=f"Bearer {bob_token}")
    assert bobs.json() == []
    deliveries = client.get(
        "/api/v1/notification-deliveries/", HTTP_AUTHORIZATION=f"Bearer {bob_token}"
    )
    assert deliveries.status_code == 200 and deliveries.json()["results"] == []
