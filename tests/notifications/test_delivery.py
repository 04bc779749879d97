"""notify(): delivery through apprise to a local HTTP server, de-duplication, rate limits,
permanent errors that disable a channel, transient errors that retry."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction

from notifications.models import DeliveryLog, NotificationChannel
from notifications.services import notify

pytestmark = pytest.mark.usefixtures("eager_celery")


def _notify(capture, **kwargs):
    with capture(execute=True):
        notify(**kwargs)


def test_fill_is_posted_as_json_to_the_subscribed_channel_only(
    alice, bob, hook_server, make_channel, django_capture_on_commit_callbacks
):
    make_channel(alice, target=hook_server.url(path="/alice"), events=["fill"])
    make_channel(alice, target=hook_server.url(path="/quiet"), label="quiet", events=["bot_error"])
    make_channel(bob, target=hook_server.url(path="/bob"), events=["fill"])

    _notify(
        django_capture_on_commit_callbacks,
        user=alice,
        event="fill",
        title="Filled: buy 0.01 BTC",
        body="mm-btc bought 0.01 BTC/USDT at 65000.00 on sandbox",
        dedupe_key="fill-1",
    )

    assert [r.path for r in hook_server.received] == ["/alice"]
    payload = hook_server.received[0].json()
    assert payload["title"] == "Filled: buy 0.01 BTC"
    assert payload["message"] == "mm-btc bought 0.01 BTC/USDT at 65000.00 on sandbox"
    assert payload["type"] == "success"
    assert hook_server.received[0].headers["Content-Type"].startswith("application/json")
    delivery = DeliveryLog.objects.get(user=alice)
    assert (delivery.status, delivery.attempts, delivery.event) == ("sent", 1, "fill")
    assert delivery.sent_at is not None


def test_form_webhook_receives_form_fields(
    alice, hook_server, make_channel, django_capture_on_commit_callbacks
):
    make_channel(alice, target=hook_server.url("form", "/form"), events=["bot_error"])
    _notify(
        django_capture_on_commit_callbacks,
        user=alice,
        event="bot_error",
        title="Bot ema stopped with an error",
        body="ZeroDivisionError in on_candle",
    )
    fields = hook_server.received[0].form()
    assert fields["title"] == "Bot ema stopped with an error"
    assert fields["message"] == "ZeroDivisionError in on_candle"
    assert fields["type"] == "failure"


def test_nothing_is_sent_when_the_transaction_rolls_back(
    alice, hook_server, make_channel, django_capture_on_commit_callbacks
):
    make_channel(alice, target=hook_server.url(), events=["fill"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                notify(user=alice, event="fill", title="t", body="b")
                raise RuntimeError("the fill was not booked")
    assert callbacks == []
    assert hook_server.received == [] and not DeliveryLog.objects.exists()


def test_same_dedupe_key_is_sent_once_other_keys_each_time(
    alice, hook_server, make_channel, django_capture_on_commit_callbacks
):
    make_channel(alice, target=hook_server.url(), events=["bot_started"])
    for key in ("start-7", "start-7", "start-8"):
        _notify(
            django_capture_on_commit_callbacks,
            user=alice,
            event="bot_started",
            title="Bot started",
            body="mm-btc is running",
            dedupe_key=key,
        )
    assert len(hook_server.received) == 2
    assert list(DeliveryLog.objects.values_list("dedupe_key", flat=True).order_by("id")) == [
        "start-7",
        "start-8",
    ]


def test_without_a_key_an_identical_message_is_a_duplicate(
    alice, hook_server, make_channel, django_capture_on_commit_callbacks
):
    make_channel(alice, target=hook_server.url(), events=["bot_stopped"])
    for body in ("stopped by you", "stopped by you", "stopped by the risk sweep"):
        _notify(
            django_capture_on_commit_callbacks,
            user=alice,
            event="bot_stopped",
            title="Bot stopped",
            body=body,
        )
    assert [r.json()["message"] for r in hook_server.received] == [
        "stopped by you",
        "stopped by the risk sweep",
    ]


def test_rate_limit_holds_back_the_excess_and_logs_it(
    alice, bob, hook_server, make_channel, settings, django_capture_on_commit_callbacks
):
    settings.PEREGRINE_NOTIFY_MAX_PER_MINUTE = 2
    make_channel(alice, target=hook_server.url(path="/alice"), events=["fill"])
    make_channel(bob, target=hook_server.url(path="/bob"), events=["fill"])
    for n in range(3):
        _notify(
            django_capture_on_commit_callbacks,
            user=alice,
            event="fill",
            title=f"fill {n}",
            body="b",
            dedupe_key=f"f{n}",
        )
    # bob has his own budget
    _notify(django_capture_on_commit_callbacks, user=bob, event="fill", title="bob", body="b")
    assert [r.path for r in hook_server.received] == ["/alice", "/alice", "/bob"]
    held = DeliveryLog.objects.get(user=alice, status="rate_limited")
    assert held.title == "fill 2" and "More than 2" in held.error


def test_permanent_error_disables_the_channel_says_why_and_tells_the_owner(
    alice, hook_server, make_channel, django_capture_on_commit_callbacks
):
    channel = make_channel(alice, target=hook_server.url(), events=["fill"], label="ops hook")
    hook_server.default = 404
    _notify(django_capture_on_commit_callbacks, user=alice, event="fill", title="a", body="b")

    channel.refresh_from_db()
    assert channel.enabled is False
    assert "HTTP 404" in channel.disabled_reason and channel.disabled_at is not None
    delivery = DeliveryLog.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert len(hook_server.received) == 1  # never retried
    assert mail.outbox[-1].to == ["alice@example.com"]
    assert "ops hook" in mail.outbox[-1].body and "HTTP 404" in mail.outbox[-1].body

    hook_server.default = 200
    _notify(django_capture_on_commit_callbacks, user=alice, event="fill", title="c", body="d")
    assert len(hook_server.received) == 1  # a disabled channel gets nothing


def test_transient_errors_are_retried_until_delivered(
    alice, hook_server, make_channel, django_capture_on_commit_callbacks
):
    channel = make_channel(alice, target=hook_server.url(), events=["fill"])
    hook_server.statuses = [503, 429]
    _notify(django_capture_on_commit_callbacks, user=alice, event="fill", title="a", body="b")
    assert len(hook_server.received) == 3
    delivery = DeliveryLog.objects.get()
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 3, "")
    channel.refresh_from_db()
    assert channel.enabled and channel.last_sent_at is not None


def test_transient_errors_give_up_after_the_last_retry_and_keep_the_channel(
    alice, hook_server, make_channel, settings, django_capture_on_commit_callbacks
):
    settings.PEREGRINE_NOTIFY_MAX_RETRIES = 2
    channel = make_channel(alice, target=hook_server.url(), events=["fill"])
    hook_server.default = 500
    _notify(django_capture_on_commit_callbacks, user=alice, event="fill", title="a", body="b")
    delivery = DeliveryLog.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert "HTTP 500" in delivery.error
    channel.refresh_from_db()
    assert channel.enabled is True


def test_unreachable_server_is_transient(
    alice, make_channel, settings, django_capture_on_commit_callbacks
):
    from tests.conftest import free_port

    settings.PEREGRINE_NOTIFY_MAX_RETRIES = 1
    channel = make_channel(alice, target=f"json://127.0.0.1:{free_port()}/hook", events=["fill"])
    _notify(django_capture_on_commit_callbacks, user=alice, event="fill", title="a", body="b")
    delivery = DeliveryLog.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert "could not be reached" in delivery.error
    channel.refresh_from_db()
    assert channel.enabled is True


def test_arbitrage_opportunities_respect_each_channels_threshold(
    alice, hook_server, make_channel, django_capture_on_commit_callbacks
):
    make_channel(
        alice,
        target=hook_server.url(path="/low"),
        label="low",
        events=["arbitrage_opportunity"],
        arbitrage_min_spread_pct="0.2",
    )
    make_channel(
        alice,
        target=hook_server.url(path="/high"),
        label="high",
        events=["arbitrage_opportunity"],
        arbitrage_min_spread_pct="1.5",
    )
    for n, spread in enumerate(("0.1", "0.8", "2.0")):
        _notify(
            django_capture_on_commit_callbacks,
            user=alice,
            event="arbitrage_opportunity",
            title=f"BTC/USDT spread {spread}%",
            body="sandbox ask < sandbox-b bid",
            dedupe_key=f"arb-{n}",
            value=Decimal(spread),
        )
    assert sorted(r.path + ":" + r.json()["title"] for r in hook_server.received) == [
        "/high:BTC/USDT spread 2.0%",
        "/low:BTC/USDT spread 0.8%",
        "/low:BTC/USDT spread 2.0%",
    ]


def test_plain_address_is_mailed_by_the_platform(
    alice, make_channel, django_capture_on_commit_callbacks
):
    make_channel(alice, kind="email", target="Alice@Example.com", events=["risk_breach"])
    _notify(
        django_capture_on_commit_callbacks,
        user=alice,
        event="risk_breach",
        title="Daily loss limit reached",
        body="mm-btc lost 120 USDT today; paused.",
    )
    assert mail.outbox[-1].to == ["alice@example.com"]
    assert mail.outbox[-1].subject == "[Peregrine] Daily loss limit reached"
    assert "lost 120 USDT" in mail.outbox[-1].body
    assert DeliveryLog.objects.get().status == "sent"


def test_test_message_reaches_one_channel_even_unsubscribed(
    alice, hook_server, make_channel, django_capture_on_commit_callbacks
):
    from notifications.services import notification_send_test

    channel = make_channel(alice, target=hook_server.url(), events=[])
    with django_capture_on_commit_callbacks(execute=True):
        notification_send_test(channel=channel)
    assert hook_server.received[0].json()["title"] == "Peregrine test notification"
    assert DeliveryLog.objects.get().event == "test"


def test_unknown_event_is_a_programming_error(alice):
    with pytest.raises(ValueError):
        notify(user=alice, event="moon", title="t", body="b")


def test_a_delivery_is_made_once_even_if_the_task_runs_twice(
    alice, hook_server, make_channel, django_capture_on_commit_callbacks
):
    from notifications.services import notification_deliver

    make_channel(alice, target=hook_server.url(), events=["fill"])
    _notify(django_capture_on_commit_callbacks, user=alice, event="fill", title="a", body="b")
    delivery = DeliveryLog.objects.get()
    assert notification_deliver(delivery_id=delivery.pk) is False  # redelivered task: no-op
    assert len(hook_server.received) == 1


def test_a_channel_disabled_after_queueing_is_skipped(alice, hook_server, make_channel):
    from notifications.services import notification_channel_set_enabled, notification_deliver

    channel = make_channel(alice, target=hook_server.url(), events=["fill"])
    delivery = DeliveryLog.objects.create(
        channel=channel, user=alice, event="fill", title="a", body="b"
    )
    notification_channel_set_enabled(channel=channel, enabled=False)
    notification_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "skipped" and hook_server.received == []
    assert NotificationChannel.objects.get().disabled_reason == "Switched off by you."
