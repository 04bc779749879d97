"""A bot's signal webhook over the API: make (or replace) its alert URL, or remove it."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from accounts.api.permissions import HasTradeScope
from accounts.security import client_ip
from trading.selectors import bot_get_for_user
from trading.services import webhooks


class WebhookOutputSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The alert URL; shown only in this answer.")
    hint = serializers.CharField(help_text="The token's first characters.")
    created_at = serializers.DateTimeField()


@extend_schema(methods=["POST"], request=None, responses={201: WebhookOutputSerializer})
@extend_schema(methods=["DELETE"], request=None, responses={204: None})
@api_view(["POST", "DELETE"])
@permission_classes([HasTradeScope])
def bot_webhook_api(request, id):  # noqa: A002
    """POST: a new alert URL for a webhook-signal bot (the old one stops working); the URL is
    in this answer only. DELETE: remove it (alerts are refused from then on). Trade scope."""
    bot = bot_get_for_user(user=request.user, id=id)
    if request.method == "DELETE":
        webhooks.webhook_delete(user=request.user, bot=bot, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
    try:
        token = webhooks.webhook_create(user=request.user, bot=bot, ip=client_ip(request))
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None
    webhook = bot.__class__.objects.get(pk=bot.pk).webhook
    path = reverse("trading:webhook-receive", kwargs={"token": token})
    body = {"url": request.build_absolute_uri(path), "hint": webhook.hint}
    body["created_at"] = webhook.created_at
    return Response(WebhookOutputSerializer(body).data, status=status.HTTP_201_CREATED)
