"""Reads of the notifications app, scoped to their owner: an outsider gets 404."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from notifications.models import DeliveryLog, NotificationChannel


def notification_channel_list(*, user) -> QuerySet[NotificationChannel]:
    """The user's channels, by label."""
    return NotificationChannel.objects.filter(user_id=user.pk).order_by("label", "created_at")


def notification_channel_get_for_user(*, user, id) -> NotificationChannel:  # noqa: A002
    """One of the user's channels; Http404 for anyone else's or an unknown id."""
    try:
        channel_id = uuid.UUID(str(id))
    except ValueError:
        raise Http404("No such notification channel.") from None
    try:
        return notification_channel_list(user=user).get(pk=channel_id)
    except NotificationChannel.DoesNotExist:
        raise Http404("No such notification channel.") from None


def delivery_log_list(*, user, channel: NotificationChannel | None = None) -> QuerySet[DeliveryLog]:
    """The user's deliveries, newest first, optionally for one of their channels."""
    deliveries = DeliveryLog.objects.filter(user_id=user.pk).select_related("channel")
    if channel is not None:
        deliveries = deliveries.filter(channel_id=channel.pk)
    return deliveries.order_by("-created_at", "-id")
