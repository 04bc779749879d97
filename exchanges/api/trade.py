"""Orders by hand on an exchange account over the API: the trading panel's operations.

GET lists the account's open orders placed by hand and its recent manual fills (read scope);
POST places an order and POST .../cancel/ cancels one (trade scope). Both go through
trading.services.manual by way of exchanges.manual_requests, the same functions the panel's
page calls, and so the same path as bots. An outsider gets 404.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from accounts.api.permissions import HasTradeScope
from exchanges.manual_requests import (
    manual_order_cancel_for_request,
    manual_order_place_for_request,
    manual_panel_for_request,
)
from exchanges.selectors import exchange_account_get_for_user
from trading.api.serializers import FillOutputSerializer, OrderOutputSerializer


class ManualOrderInputSerializer(serializers.Serializer):
    """Numbers as strings (exact decimals); the service checks them against the market."""

    symbol = serializers.CharField(max_length=32)
    side = serializers.ChoiceField(choices=["buy", "sell"])
    type = serializers.ChoiceField(choices=["limit", "market"])
    qty = serializers.CharField(max_length=40)
    price = serializers.CharField(max_length=40, required=False, allow_blank=True)


class ManualOrdersOutputSerializer(serializers.Serializer):
    open_orders = OrderOutputSerializer(many=True)
    fills = FillOutputSerializer(many=True)


def _invalid(exc: DjangoValidationError) -> serializers.ValidationError:
    detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
    if list(detail) == ["__all__"]:
        detail = {"detail": " ".join(detail["__all__"])}
    return serializers.ValidationError(detail)


class _TradeScopeToPlace(HasTradeScope):
    """Reading needs a signed-in caller; placing needs trade scope."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return super().has_permission(request, view)


def _list(request, account):
    panel = manual_panel_for_request(request, account)
    data = {"open_orders": panel.open_orders, "fills": panel.fills}
    return Response(ManualOrdersOutputSerializer(data).data)


def _place(request, account):
    serializer = ManualOrderInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        order = manual_order_place_for_request(request, account, serializer.validated_data)
    except DjangoValidationError as exc:
        raise _invalid(exc) from exc
    return Response(OrderOutputSerializer(order).data, status=status.HTTP_201_CREATED)


@extend_schema(
    methods=["GET"], responses=ManualOrdersOutputSerializer, summary="Open orders and fills by hand"
)
@extend_schema(
    methods=["POST"],
    request=ManualOrderInputSerializer,
    responses={201: OrderOutputSerializer},
    summary="Place an order by hand (trade scope)",
)
@api_view(["GET", "POST"])
@permission_classes([_TradeScopeToPlace])
def exchange_account_orders_api(request, id):  # noqa: A002
    """The account's open orders and fills by hand (GET); place an order by hand (POST)."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    if request.method == "POST":
        return _place(request, account)
    return _list(request, account)


@extend_schema(request=None, responses=OrderOutputSerializer)
@api_view(["POST"])
@permission_classes([HasTradeScope])
def exchange_account_order_cancel_api(request, id, order_id):  # noqa: A002
    """Cancel an open order placed by hand on the account (trade scope)."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    try:
        order = manual_order_cancel_for_request(request, account, order_id)
    except DjangoValidationError as exc:
        raise _invalid(exc) from exc
    return Response(OrderOutputSerializer(order).data)
