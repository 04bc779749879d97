"""Notification channels, `notify`, and delivery: the only code that seals or opens a channel.

`notify(user=, event=, title=, body=)` is what other apps call. After the caller's transaction
commits it finds the user's enabled channels subscribed to the event, drops a repeat of the same
(user, event, dedupe key) within the de-duplication window, holds back what exceeds the per-user
rate limit (logged as such), and queues one Celery delivery per channel.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compliance.services import audit_record
from config.logging import register_secret
from exchanges import crypto
from exchanges.services.credentials import keyring
from notifications.adapters import adapter_for, deliver
from notifications.models import TEST_EVENT, DeliveryLog, NotificationChannel, NotificationEvent

logger = logging.getLogger(__name__)

_BODY_LIMIT = 4000


# --- channels -------------------------------------------------------------------------------


def _aad(channel: NotificationChannel) -> bytes:
    return crypto.associated_data(
        table=NotificationChannel._meta.db_table,
        row_id=channel.pk,
        owner_id=channel.user_id,
        key_version=channel.key_version,
    )


def _threshold(value) -> Decimal:
    if value in (None, ""):
        return Decimal("0.5")
    try:
        threshold = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError({"arbitrage_min_spread_pct": "Enter a number."}) from None
    if not threshold.is_finite() or threshold < 0 or threshold > 1000:
        raise ValidationError({"arbitrage_min_spread_pct": "Enter a percentage from 0 to 1000."})
    return threshold.quantize(Decimal("0.0001"))


def _validate(*, user, kind: str, label: str, events, exclude_id=None) -> list[str]:
    errors: dict[str, str] = {}
    if kind not in NotificationChannel.Kind.values:
        errors["kind"] = "Choose email, Telegram, Discord, Slack or webhook."
    if not label:
        errors["label"] = "Give the channel a label."
    elif (
        NotificationChannel.objects.filter(user_id=user.pk, label=label)
        .exclude(pk=exclude_id)
        .exists()
    ):
        errors["label"] = "You already have a channel with this label."
    events = list(dict.fromkeys(events or []))
    unknown = [event for event in events if event not in NotificationEvent.values]
    if unknown:
        errors["events"] = f"Unknown event(s): {', '.join(unknown)}."
    if errors:
        raise ValidationError(errors)
    return events


def _seal(channel: NotificationChannel, target: str) -> None:
    channel.target_ciphertext = crypto.seal(target, aad=_aad(channel), keyring=keyring())


def _public(channel: NotificationChannel) -> dict:
    return {
        "kind": channel.kind,
        "label": channel.label,
        "target_hint": channel.target_hint,
        "events": list(channel.events),
        "enabled": channel.enabled,
    }


@transaction.atomic
def notification_channel_create(
    *,
    user,
    kind: str,
    label: str,
    target: str,
    events: list[str],
    arbitrage_min_spread_pct=None,
    ip: str | None = None,
) -> NotificationChannel:
    """Check the destination, store it sealed, and subscribe the channel to the events."""
    label = (label or "").strip()
    events = _validate(user=user, kind=kind, label=label, events=events)
    threshold = _threshold(arbitrage_min_spread_pct)
    destination = adapter_for(kind).validate(target or "", user=user)
    channel = NotificationChannel(
        user=user,
        kind=kind,
        label=label,
        events=events,
        arbitrage_min_spread_pct=threshold,
        target_hint=destination.hint,
    )
    _seal(channel, destination.target)
    channel.save()
    audit_record(
        actor=user,
        action="notification_channel.create",
        target=channel,
        ip=ip,
        after=_public(channel),
    )
    return channel


@transaction.atomic
def notification_channel_update(
    *,
    channel: NotificationChannel,
    label: str,
    events: list[str],
    arbitrage_min_spread_pct=None,
    target: str = "",
    ip: str | None = None,
) -> NotificationChannel:
    """Change label, events and threshold; a new destination is checked, sealed and re-enables."""
    channel = NotificationChannel.objects.select_for_update().get(pk=channel.pk)
    before = _public(channel)
    label = (label or "").strip()
    channel.events = _validate(
        user=channel.user, kind=channel.kind, label=label, events=events, exclude_id=channel.pk
    )
    channel.label = label
    channel.arbitrage_min_spread_pct = _threshold(arbitrage_min_spread_pct)
    if (target or "").strip():
        destination = adapter_for(channel.kind).validate(target, user=channel.user)
        channel.key_version += 1
        channel.target_hint = destination.hint
        _seal(channel, destination.target)
        channel.enabled, channel.disabled_reason, channel.disabled_at = True, "", None
    channel.save()
    audit_record(
        actor=channel.user,
        action="notification_channel.update",
        target=channel,
        ip=ip,
        before=before,
        after=_public(channel),
    )
    return channel


@transaction.atomic
def notification_channel_set_enabled(
    *, channel: NotificationChannel, enabled: bool
) -> NotificationChannel:
    """Switch a channel on or off by hand; switching on clears the reason it was disabled."""
    channel = NotificationChannel.objects.select_for_update().get(pk=channel.pk)
    channel.enabled = enabled
    if enabled:
        channel.disabled_reason, channel.disabled_at = "", None
    else:
        channel.disabled_reason, channel.disabled_at = "Switched off by you.", timezone.now()
    channel.save(update_fields=["enabled", "disabled_reason", "disabled_at", "updated_at"])
    return channel


@transaction.atomic
def notification_channel_disable(*, channel: NotificationChannel, reason: str) -> None:
    """Stop delivering to a channel that refused a message; record why and tell the owner."""
    updated = NotificationChannel.objects.filter(pk=channel.pk, enabled=True).update(
        enabled=False,
        disabled_reason=reason[:500],
        disabled_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if not updated:
        return
    user = channel.user
    message = (
        f"Peregrine stopped sending notifications to your channel '{channel.label}' "
        f"({channel.get_kind_display()}): {reason}\n\nFix the destination and enable it again "
        f"at {settings.SITE_URL}/notifications/.\n\n- Peregrine"
    )
    transaction.on_commit(
        lambda: send_mail(
            "[Peregrine] Notification channel disabled",
            message,
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
            fail_silently=True,
        ),
        robust=True,
    )


@transaction.atomic
def notification_channel_delete(*, channel: NotificationChannel, ip: str | None = None) -> None:
    """Delete a channel, its sealed destination and its delivery log."""
    audit_record(
        actor=channel.user,
        action="notification_channel.delete",
        target=channel,
        ip=ip,
        before=_public(channel),
    )
    channel.delete()


def notification_channel_target(*, channel: NotificationChannel) -> str:
    """Open the sealed destination for delivery; the value is log-redacted at once."""
    target = crypto.open_sealed(channel.target_ciphertext, aad=_aad(channel), keyring=keyring())
    register_secret(target)
    return target


def notification_channel_rewrap_all() -> int:
    """Re-wrap every sealed destination under the newest master key; the count re-wrapped."""
    ring, count = keyring(), 0
    for channel_id in NotificationChannel.objects.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            channel = NotificationChannel.objects.select_for_update().get(pk=channel_id)
            if crypto.sealed_key_id(channel.target_ciphertext) != ring.newest.key_id:
                channel.target_ciphertext = crypto.rewrap(
                    channel.target_ciphertext, aad=_aad(channel), keyring=ring
                )
                channel.save(update_fields=["target_ciphertext"])
                count += 1
    return count


def notification_sealed_key_ids_in_use() -> set[str]:
    """Ids of every master key that still wraps a stored destination."""
    return {
        crypto.sealed_key_id(value)
        for value in NotificationChannel.objects.values_list("target_ciphertext", flat=True)
    }


# --- notify ---------------------------------------------------------------------------------


def notify(
    *,
    user,
    event: str,
    title: str,
    body: str,
    dedupe_key: str | None = None,
    value: Decimal | None = None,
    dedupe_seconds: int | None = None,
) -> None:
    """Queue `event` to the user's channels after the current transaction commits.

    `value` is the spread in percent for arbitrage opportunities (compared with each channel's
    threshold). A repeat of (user, event, dedupe_key) inside the window is dropped; without a
    dedupe_key, the same title and body count as a repeat.
    """
    if event not in NotificationEvent.values:
        raise ValueError(f"unknown notification event {event!r}")
    key = dedupe_key or hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()
    arguments = {
        "user_id": user.pk,
        "event": event,
        "title": (title or "")[:200],
        "body": (body or "")[:_BODY_LIMIT],
        "dedupe_key": str(key)[:200],
        "value": value,
        "dedupe_seconds": dedupe_seconds or settings.PEREGRINE_NOTIFY_DEDUPE_SECONDS,
    }

    def dispatch() -> None:  # a plain function: robust on_commit logs callbacks by __qualname__
        _dispatch(**arguments)

    transaction.on_commit(dispatch, robust=True)


def _subscribed(*, user_id: int, event: str, value: Decimal | None) -> list[NotificationChannel]:
    channels = NotificationChannel.objects.filter(
        user_id=user_id, enabled=True, events__contains=[event]
    )
    if event == NotificationEvent.ARBITRAGE_OPPORTUNITY:
        if value is None:
            return []
        channels = channels.filter(Q(arbitrage_min_spread_pct__lte=Decimal(str(value))))
    return list(channels)


def _first_time(*, user_id: int, event: str, dedupe_key: str, seconds: int) -> bool:
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    return cache.add(f"notify:dedupe:{user_id}:{event}:{digest}", 1, timeout=seconds)


def _within_rate(*, user_id: int, event: str) -> bool:
    """A fixed one-minute window per user and event, counted atomically in Redis."""
    window = int(timezone.now().timestamp() // 60)
    key = f"notify:rate:{user_id}:{event}:{window}"
    cache.add(key, 0, timeout=120)
    return cache.incr(key) <= settings.PEREGRINE_NOTIFY_MAX_PER_MINUTE


def _dispatch(
    *,
    user_id: int,
    event: str,
    title: str,
    body: str,
    dedupe_key: str,
    value,
    dedupe_seconds: int,
) -> None:
    channels = _subscribed(user_id=user_id, event=event, value=value)
    if not channels:
        return
    if not _first_time(user_id=user_id, event=event, dedupe_key=dedupe_key, seconds=dedupe_seconds):
        return
    allowed = _within_rate(user_id=user_id, event=event)
    for channel in channels:
        delivery = DeliveryLog.objects.create(
            channel=channel,
            user_id=user_id,
            event=event,
            title=title,
            body=body,
            dedupe_key=dedupe_key,
            status=DeliveryLog.Status.QUEUED if allowed else DeliveryLog.Status.RATE_LIMITED,
            error=""
            if allowed
            else f"More than {settings.PEREGRINE_NOTIFY_MAX_PER_MINUTE} '{event}' "
            "notifications in a minute.",
        )
        if allowed:
            _enqueue(delivery.pk)


def _enqueue(delivery_id: int) -> None:
    from notifications.tasks import notification_deliver_task

    notification_deliver_task.apply_async(args=[delivery_id], queue=settings.PEREGRINE_NOTIFY_QUEUE)


def notification_send_test(*, channel: NotificationChannel) -> DeliveryLog:
    """Queue a test message to one channel, subscribed or not, after the transaction commits."""
    delivery = DeliveryLog.objects.create(
        channel=channel,
        user_id=channel.user_id,
        event=TEST_EVENT,
        title="Peregrine test notification",
        body=f"This is a test message for your channel '{channel.label}'. It works.",
    )

    def enqueue() -> None:
        _enqueue(delivery.pk)

    transaction.on_commit(enqueue, robust=True)
    return delivery


# --- delivery -------------------------------------------------------------------------------

_RETRYABLE = (DeliveryLog.Status.QUEUED, DeliveryLog.Status.RETRYING)
_CLAIM_TIMEOUT_SECONDS = 300


def _claim(delivery_id: int) -> DeliveryLog | None:
    """Take the delivery for this attempt; None if it is done or another worker is on it."""
    now = timezone.now()
    stale = now - timedelta(seconds=_CLAIM_TIMEOUT_SECONDS)
    claimed = DeliveryLog.objects.filter(
        Q(status__in=_RETRYABLE) | Q(status=DeliveryLog.Status.SENDING, claimed_at__lt=stale),
        pk=delivery_id,
    ).update(status=DeliveryLog.Status.SENDING, claimed_at=now)
    if not claimed:
        return None
    return DeliveryLog.objects.select_related("channel", "channel__user").get(pk=delivery_id)


def _finish(delivery: DeliveryLog, *, status: str, error: str = "") -> None:
    delivery.status, delivery.error = status, error[:500]
    delivery.attempts += 1
    fields = ["status", "error", "attempts"]
    if status == DeliveryLog.Status.SENT:
        delivery.sent_at = timezone.now()
        fields.append("sent_at")
    delivery.save(update_fields=fields)


def notification_deliver(*, delivery_id: int, final_attempt: bool = False) -> bool:
    """Make one delivery attempt; True if a transient error wants another try later.

    A permanent error disables the channel (with the reason) and fails the delivery; a
    transient one leaves it retrying, or failed when this was the final attempt.
    """
    delivery = _claim(delivery_id)
    if delivery is None:
        return False
    channel = delivery.channel
    if not channel.enabled:
        _finish(delivery, status=DeliveryLog.Status.SKIPPED, error=channel.disabled_reason)
        return False
    try:
        target = notification_channel_target(channel=channel)
    except crypto.DecryptionError:
        outcome_error, permanent, ok = "The saved destination can no longer be opened.", True, False
    else:
        outcome = deliver(
            kind=channel.kind,
            target=target,
            event=delivery.event,
            title=delivery.title,
            body=delivery.body,
        )
        outcome_error, permanent, ok = outcome.error, outcome.permanent, outcome.ok
    if ok:
        _finish(delivery, status=DeliveryLog.Status.SENT)
        NotificationChannel.objects.filter(pk=channel.pk).update(last_sent_at=timezone.now())
        return False
    if permanent:
        _finish(delivery, status=DeliveryLog.Status.FAILED, error=outcome_error)
        notification_channel_disable(channel=channel, reason=outcome_error)
        return False
    status = DeliveryLog.Status.FAILED if final_attempt else DeliveryLog.Status.RETRYING
    _finish(delivery, status=status, error=outcome_error)
    logger.info("notification %s to channel %s: %s", delivery.pk, channel.pk, outcome_error)
    return not final_attempt


def delivery_log_prune(*, older_than_days: int = 30) -> int:
    """Delete delivery log entries older than the retention; the number deleted."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = DeliveryLog.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- daily summary --------------------------------------------------------------------------


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,f}"


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + _money(value)


def daily_summary_body(*, lines, day) -> str:
    """The text of a user's daily summary."""
    out = [f"Your bots on {day:%Y-%m-%d} (UTC):", ""]
    totals: dict[str, list[Decimal]] = {}
    for line in lines:
        asset = line.valuation_asset
        out.append(
            f"- {line.name} ({line.status}): value {_money(line.value)} {asset} "
            f"({_signed(line.change)}), realized {_signed(line.realized)}, fees "
            f"{_money(line.fees)}, {line.trades} trades ({line.winning_trades} winning)"
        )
        total = totals.setdefault(asset, [Decimal(0), Decimal(0)])
        total[0] += line.value
        total[1] += line.change
    out.append("")
    for asset, (value, change) in totals.items():
        out.append(f"Total: {_money(value)} {asset} ({_signed(change)} today)")
    return "\n".join(out)


def daily_summary_send(*, day) -> int:
    """Queue yesterday's summary to every user who subscribed; the number of users told.

    Sent once per user and day, however often it runs (the day is the de-duplication key).
    """
    from datetime import UTC, datetime, time

    from django.contrib.auth import get_user_model

    from portfolio.selectors import daily_lines

    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    user_ids = (
        NotificationChannel.objects.filter(
            enabled=True, events__contains=[NotificationEvent.DAILY_SUMMARY]
        )
        .values_list("user_id", flat=True)
        .distinct()
    )
    told = 0
    for user in get_user_model().objects.filter(pk__in=list(user_ids), is_active=True):
        lines = daily_lines(user=user, start=start, end=end)
        if not lines:
            continue
        notify(
            user=user,
            event=NotificationEvent.DAILY_SUMMARY,
            title=f"Peregrine daily summary {day:%Y-%m-%d}",
            body=daily_summary_body(lines=lines, day=day),
            dedupe_key=f"daily:{day:%Y-%m-%d}",
            dedupe_seconds=3 * 24 * 3600,
        )
        told += 1
    return told


# --- arbitrage opportunities ----------------------------------------------------------------


def _price(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.00000001')).normalize():f}"


def arbitrage_scan_notify(*, markets: dict[str, list[str]] | None = None) -> int:
    """Tell subscribers about cross-venue edges above their threshold; the number found.

    The edge is net of both venues' taker fees and the book walk for the arbitrage tracker's
    default size (notifications.arbitrage). Each (market, buy venue, sell venue) is told at
    most once per window while it lasts.
    """
    from notifications.arbitrage import arbitrage_opportunities

    subscribed = NotificationChannel.objects.filter(
        enabled=True, events__contains=[NotificationEvent.ARBITRAGE_OPPORTUNITY]
    )
    lowest = subscribed.order_by("arbitrage_min_spread_pct").first()
    if lowest is None:
        return 0
    if markets is None:
        from marketdata.tasks import configured_collectors  # heavy (ccxt): only when needed

        markets = configured_collectors()
    found = [
        o
        for o in arbitrage_opportunities(markets)
        if o.spread_pct >= lowest.arbitrage_min_spread_pct
    ]
    if not found:
        return 0
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(
        pk__in=subscribed.values_list("user_id", flat=True), is_active=True
    )
    for user in users:
        for o in found:
            spread = o.spread_pct.quantize(Decimal("0.01"))
            notify(
                user=user,
                event=NotificationEvent.ARBITRAGE_OPPORTUNITY,
                title=f"{o.symbol}: {spread}% between {o.buy_on} and {o.sell_on}",
                body=f"Buy {_price(o.qty)} {o.symbol.split('/')[0]} on {o.buy_on} at "
                f"{_price(o.ask)} and sell on {o.sell_on} at {_price(o.bid)} (average prices "
                f"walking the books): {spread}% after {o.fee_pct.quantize(Decimal('0.01'))}% "
                "of taker fees.",
                dedupe_key=f"arb:{o.symbol}:{o.buy_on}:{o.sell_on}",
                dedupe_seconds=settings.PEREGRINE_NOTIFY_ARBITRAGE_REPEAT_SECONDS,
                value=o.spread_pct,
            )
    return len(found)
