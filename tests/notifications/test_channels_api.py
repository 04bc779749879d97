"""Notification channels over the API, as on the pages: add (with the page's re-authentication
in the body), edit, switch on and off, send a test through the real delivery path, delete;
trade scope for changes, bob gets 404, and a destination is never in an answer."""

from __future__ import annotations

import pytest
from django.test import Client

from compliance.models import AuditEvent
from notifications.models import DeliveryLog, NotificationChannel
from notifications.services import notification_channel_target

pytestmark = pytest.mark.usefixtures("eager_celery")

CANARY = "CANARY-API-DEST-5e4d3c2b1a"
LIST = "/api/v1/notification-channels/"


@pytest.fixture
def api(alice, api_token_for):
    def make(scope="trade", user=None):
        return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_for(user or alice, scope)}")

    return make


@pytest.fixture
def answers():
    """Every answer body a test got, to show no destination was ever returned."""
    seen: list[str] = []

    def record(response):
        seen.append(response.content.decode())
        return response

    record.seen = seen
    return record


def _create(client, **fields):
    return client.post(LIST, fields, content_type="application/json")


def _body(hook_server, password, **extra):
    return {
        "kind": "webhook",
        "label": "ops hook",
        "target": hook_server.url(path=f"/{CANARY}"),
        "events": ["fill", "bot_error"],
        "password": password,
        **extra,
    }


def _rows():
    return list(NotificationChannel.objects.order_by("pk").values())


def _patch(client, channel_id, **fields):
    return client.patch(f"{LIST}{channel_id}/", fields, content_type="application/json")


def test_add_edit_switch_test_and_delete(
    alice, password, api, answers, hook_server, django_capture_on_commit_callbacks
):
    client = api()
    made = answers(_create(client, **_body(hook_server, password, arbitrage_min_spread_pct="1.25")))
    assert made.status_code == 201, made.content
    body = made.json()
    channel = NotificationChannel.objects.get(pk=body["id"])
    assert notification_channel_target(channel=channel) == hook_server.url(path=f"/{CANARY}")
    assert body["kind"] == "webhook" and body["events"] == ["fill", "bot_error"]
    assert body["arbitrage_min_spread_pct"] == "1.2500" and body["enabled"] is True
    assert body["target_hint"] and "target" not in body
    assert AuditEvent.objects.filter(action="notification_channel.create").count() == 1
    url = f"{LIST}{channel.pk}/"

    edited = answers(_patch(client, channel.pk, label="renamed", events=["daily_summary"]))
    assert edited.status_code == 200, edited.content
    assert edited.json()["label"] == "renamed" and edited.json()["events"] == ["daily_summary"]
    assert edited.json()["arbitrage_min_spread_pct"] == "1.2500"  # left out: kept
    channel.refresh_from_db()
    assert (channel.label, channel.events) == ("renamed", ["daily_summary"])

    off = answers(_patch(client, channel.pk, enabled=False))
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert off.json()["disabled_reason"] == "Switched off by you."

    with django_capture_on_commit_callbacks(execute=True):
        skipped = answers(client.post(url + "test/"))
    assert skipped.status_code == 202 and skipped.json()["status"] == "queued"
    assert DeliveryLog.objects.get(pk=skipped.json()["id"]).status == "skipped"
    assert hook_server.received == []

    on = answers(_patch(client, channel.pk, enabled=True))
    assert on.status_code == 200 and on.json()["enabled"] is True
    assert on.json()["disabled_reason"] == ""

    with django_capture_on_commit_callbacks(execute=True):
        tested = answers(client.post(url + "test/"))
    assert tested.status_code == 202, tested.content
    row = tested.json()
    assert row["channel"] == str(channel.pk) and row["event"] == "test"
    assert [r.path for r in hook_server.received] == [f"/{CANARY}"]
    assert "test message for your channel 'renamed'" in hook_server.received[0].json()["message"]
    log = answers(client.get("/api/v1/notification-deliveries/")).json()["results"]
    assert [(d["id"], d["status"]) for d in log][:1] == [(row["id"], "sent")]
    assert answers(client.get(url)).json()["last_sent_at"] is not None

    gone = answers(client.delete(url))
    assert gone.status_code == 204
    assert not NotificationChannel.objects.exists() and not DeliveryLog.objects.exists()
    assert client.get(url).status_code == 404
    assert all(CANARY not in text for text in answers.seen)


def test_a_refused_test_message_switches_the_channel_off(
    alice, password, api, hook_server, django_capture_on_commit_callbacks
):
    client = api()
    made = _create(client, **_body(hook_server, password)).json()
    hook_server.default = 404
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{LIST}{made['id']}/test/").status_code == 202
    detail = client.get(f"{LIST}{made['id']}/").json()
    assert detail["enabled"] is False and "404" in detail["disabled_reason"]
    assert DeliveryLog.objects.get().status == "failed"


def test_adding_needs_the_password_trade_scope_and_good_input(
    alice, password, api, hook_server, answers
):
    refusals = {
        "wrong password": (api(), {"password": "not it"}, 400, "password"),
        "no password": (api(), {"password": None}, 400, "password"),
        "read token": (api("read"), {}, 403, None),
        "unknown kind": (api(), {"kind": "pigeon"}, 400, "kind"),
        "unknown event": (api(), {"events": ["fill", "moon"]}, 400, "events"),
        "blank label": (api(), {"label": "  "}, 400, "label"),
        "bad destination": (api(), {"target": "not a url"}, 400, "target"),
        "threshold too big": (api(), {"arbitrage_min_spread_pct": "1000.5"}, 400, None),
        "threshold a number": (api(), {"arbitrage_min_spread_pct": 1}, 400, None),
        "negative threshold": (api(), {"arbitrage_min_spread_pct": "-1"}, 400, None),
    }
    for name, (client, change, status, field) in refusals.items():
        body = {
            k: v for k, v in {**_body(hook_server, password), **change}.items() if v is not None
        }
        response = answers(_create(client, **body))
        assert response.status_code == status, (name, response.content)
        if field:
            assert field in response.json()["error"]["fields"], (name, response.json())
    assert not NotificationChannel.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="notification_channel").exists()

    assert _create(api(), **_body(hook_server, password)).status_code == 201
    twice = _create(api(), **_body(hook_server, password, target="https://hooks.example.com/b"))
    assert twice.status_code == 400 and "label" in twice.json()["error"]["fields"]
    assert NotificationChannel.objects.count() == 1
    assert all(CANARY not in text for text in answers.seen)


def test_with_two_factor_adding_needs_a_current_code(
    alice, alice_totp, totp_code, password, api, hook_server
):
    client = api()
    missing = _create(client, **_body(hook_server, password))
    assert missing.status_code == 400 and "code" in missing.json()["error"]["fields"]
    wrong = _create(client, **_body(hook_server, password, code="000000"))
    assert wrong.status_code == 400 and "code" in wrong.json()["error"]["fields"]
    assert not NotificationChannel.objects.exists()
    made = _create(client, **_body(hook_server, password, code=totp_code(alice_totp)))
    assert made.status_code == 201, made.content


def test_a_new_destination_needs_the_password_and_switches_the_channel_on(
    alice, password, api, answers, hook_server, make_channel
):
    channel = make_channel(alice, target=hook_server.url(path="/old"), label="hook")
    NotificationChannel.objects.filter(pk=channel.pk).update(enabled=False, disabled_reason="404")
    before = _rows()
    client = api()
    new = hook_server.url(path=f"/{CANARY}")
    for extra, field in (({}, "password"), ({"password": "not it"}, "password")):
        refused = answers(_patch(client, channel.pk, target=new, label="changed", **extra))
        assert refused.status_code == 400 and field in refused.json()["error"]["fields"]
    assert _patch(api("read"), channel.pk, target=new, password=password).status_code == 403
    bad = _patch(client, channel.pk, target="nope", password=password, label="changed")
    assert bad.status_code == 400 and "target" in bad.json()["error"]["fields"]
    assert _rows() == before

    changed = answers(_patch(client, channel.pk, target=new, password=password))
    assert changed.status_code == 200, changed.content
    assert changed.json()["enabled"] is True and changed.json()["label"] == "hook"
    channel.refresh_from_db()
    assert notification_channel_target(channel=channel) == new and channel.key_version == 2
    assert all(CANARY not in text for text in answers.seen)


def test_read_scope_reads_but_changes_nothing(
    alice, api, hook_server, make_channel, django_capture_on_commit_callbacks
):
    channel = make_channel(alice, target=hook_server.url(path=f"/{CANARY}"))
    before = _rows()
    read = api("read")
    url = f"{LIST}{channel.pk}/"
    listed = read.get(LIST)
    assert listed.status_code == 200 and [c["id"] for c in listed.json()] == [str(channel.pk)]
    assert CANARY not in listed.content.decode() + read.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert _patch(read, channel.pk, label="x").status_code == 403
        assert _patch(read, channel.pk, enabled=False).status_code == 403
        assert read.post(url + "test/").status_code == 403
        assert read.delete(url).status_code == 403
    assert _rows() == before
    assert not DeliveryLog.objects.exists() and hook_server.received == []


def test_bob_gets_404_and_alices_channel_is_unchanged(
    alice, bob, password, api, hook_server, make_channel, django_capture_on_commit_callbacks
):
    channel = make_channel(alice, target=hook_server.url(path=f"/{CANARY}"))
    before = _rows()
    url = f"{LIST}{channel.pk}/"
    session = Client()
    session.force_login(bob)
    for client in (api(user=bob), session):
        assert [c["id"] for c in client.get(LIST).json()] == []
        with django_capture_on_commit_callbacks(execute=True):
            assert client.get(url).status_code == 404
            assert _patch(client, channel.pk, label="pwned", enabled=False).status_code == 404
            moved = _patch(client, channel.pk, target="https://evil.example/x", password=password)
            assert moved.status_code == 404
            assert client.post(url + "test/").status_code == 404
            assert client.delete(url).status_code == 404
    anonymous = Client()
    assert anonymous.post(url + "test/").status_code in (401, 403)
    assert anonymous.delete(url).status_code in (401, 403)
    assert _rows() == before
    assert not DeliveryLog.objects.exists() and hook_server.received == []
