"""Notification channels and deliveries over the API, as on the pages: list and read them (read
scope); add one, edit it (label, events, threshold, destination), switch it on or off, send it
a test, delete it (trade scope).

Adding a channel (a new place your trading data goes) and changing its destination need the
confirmation the pages ask for (a recent password or code there): here the password and, with
2FA, a current code in the body (accounts.api.reauth). A destination is never returned: answers
show `target_hint` only.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.api.permissions import require_trade_scope
from accounts.api.reauth import identity_confirm
from accounts.security import client_ip
from config.api import invalid, validated
from config.inputs import Pagination
from config.schema import page_parameters, paginated
from notifications import services
from notifications.api.serializers import (
    DeliveryLogOutputSerializer,
    NotificationChannelCreateInputSerializer,
    NotificationChannelOutputSerializer,
    NotificationChannelUpdateInputSerializer,
)
from notifications.selectors import (
    delivery_log_list,
    notification_channel_get_for_user,
    notification_channel_list,
)


@extend_schema(methods=["GET"], responses=NotificationChannelOutputSerializer(many=True))
@extend_schema(
    methods=["POST"],
    request=NotificationChannelCreateInputSerializer,
    responses={201: NotificationChannelOutputSerializer},
    description="Add a channel (trade scope, and the password — with 2FA a current code — as "
    "the page's re-authentication: it is a new place your trading data goes). The destination "
    "is checked and stored encrypted; the answer shows its `target_hint` only.",
)
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def notification_channel_list_api(request):
    """The caller's notification channels (destinations are never returned); POST adds one."""
    if request.method == "POST":
        return _channel_create(request)
    channels = notification_channel_list(user=request.user)
    return Response(NotificationChannelOutputSerializer(channels, many=True).data)


def _channel_create(request) -> Response:
    require_trade_scope(request, "adding a notification channel")
    data = validated(NotificationChannelCreateInputSerializer, request.data)
    identity_confirm(request, password=data.pop("password"), code=data.pop("code", ""))
    try:
        channel = services.notification_channel_create(
            user=request.user, ip=client_ip(request), **data
        )
    except DjangoValidationError as exc:
        raise invalid(exc) from None
    return Response(
        NotificationChannelOutputSerializer(channel).data, status=status.HTTP_201_CREATED
    )


@extend_schema(methods=["GET"], responses=NotificationChannelOutputSerializer)
@extend_schema(
    methods=["PATCH"],
    request=NotificationChannelUpdateInputSerializer,
    responses=NotificationChannelOutputSerializer,
    description="Change the label, events or threshold, switch the channel on or off "
    "(`enabled`), or give it a new destination (trade scope; a new destination needs the "
    "password — with 2FA a current code — as on the page, and switches the channel back on "
    "unless `enabled` says otherwise). Fields left out keep their value.",
)
@extend_schema(
    methods=["DELETE"],
    request=None,
    responses={204: OpenApiResponse(description="The channel and its delivery log were deleted.")},
    description="Delete the channel, its stored destination and its delivery log (trade scope).",
)
@api_view(["GET", "PATCH", "DELETE"])
@permission_classes([IsAuthenticated])
def notification_channel_detail_api(request, id):  # noqa: A002
    """One of the caller's channels (404 for anyone else's); PATCH edits it, DELETE deletes it."""
    channel = notification_channel_get_for_user(user=request.user, id=id)
    if request.method == "PATCH":
        return _channel_update(request, channel)
    if request.method == "DELETE":
        require_trade_scope(request, "deleting a notification channel")
        services.notification_channel_delete(channel=channel, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(NotificationChannelOutputSerializer(channel).data)


def _channel_update(request, channel) -> Response:
    require_trade_scope(request, "changing a notification channel")
    data = validated(NotificationChannelUpdateInputSerializer, request.data)
    target = data.get("target", "")
    if target:
        if not data.get("password"):
            raise serializers.ValidationError(
                {"password": ["Changing where notifications go needs your password (and code)."]}
            )
        identity_confirm(request, password=data["password"], code=data.get("code", ""))
    edits = {"label", "events", "arbitrage_min_spread_pct", "target"} & data.keys()
    try:
        with transaction.atomic():
            if edits:
                channel = services.notification_channel_update(
                    channel=channel,
                    label=data.get("label", channel.label),
                    events=data.get("events", channel.events),
                    arbitrage_min_spread_pct=data.get(
                        "arbitrage_min_spread_pct", channel.arbitrage_min_spread_pct
                    ),
                    target=target,
                    ip=client_ip(request),
                )
            if "enabled" in data and data["enabled"] != channel.enabled:
                channel = services.notification_channel_set_enabled(
                    channel=channel, enabled=data["enabled"]
                )
    except DjangoValidationError as exc:
        raise invalid(exc) from None
    return Response(NotificationChannelOutputSerializer(channel).data)


@extend_schema(
    request=None,
    responses={202: DeliveryLogOutputSerializer},
    description="Queue a test message to the channel, subscribed or not (trade scope). The "
    "answer is its delivery log entry, queued; `GET /api/v1/notification-deliveries/` shows "
    "how it went (a channel that refuses it permanently is switched off, with the reason).",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def notification_channel_test_api(request, id):  # noqa: A002
    """Send a test message to one of the caller's channels."""
    channel = notification_channel_get_for_user(user=request.user, id=id)
    require_trade_scope(request, "sending a test notification")
    delivery = services.notification_send_test(channel=channel)
    return Response(DeliveryLogOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    responses=paginated(DeliveryLogOutputSerializer),
    parameters=[
        *page_parameters(),
    ],
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def delivery_log_list_api(request):
    """The caller's delivery log, newest first, paginated."""
    paginator = Pagination()
    page = paginator.paginate_queryset(delivery_log_list(user=request.user), request)
    return paginator.get_paginated_response(DeliveryLogOutputSerializer(page, many=True).data)
