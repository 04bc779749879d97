"""Notification channels and deliveries over the API: read only (read scope).

Adding a channel or changing its destination needs a recent password/OTP check: pages only.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from config.inputs import Pagination
from config.schema import page_parameters, paginated
from notifications.api.serializers import (
    DeliveryLogOutputSerializer,
    NotificationChannelOutputSerializer,
)
from notifications.selectors import (
    delivery_log_list,
    notification_channel_get_for_user,
    notification_channel_list,
)


@extend_schema(responses=NotificationChannelOutputSerializer(many=True))
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def notification_channel_list_api(request):
    """The caller's notification channels (destinations are never returned)."""
    channels = notification_channel_list(user=request.user)
    return Response(NotificationChannelOutputSerializer(channels, many=True).data)


@extend_schema(responses=NotificationChannelOutputSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def notification_channel_detail_api(request, id):  # noqa: A002
    """One of the caller's channels (404 for anyone else's)."""
    channel = notification_channel_get_for_user(user=request.user, id=id)
    return Response(NotificationChannelOutputSerializer(channel).data)


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
