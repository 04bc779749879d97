"""Exchange accounts over the API: read them (read scope); stop one (trade scope).

Adding or replacing keys and going live need a recent password/OTP check, so they are pages only.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.api.permissions import HasTradeScope
from accounts.security import client_ip
from exchanges.api.serializers import (
    ExchangeAccountDisableInputSerializer,
    ExchangeAccountOutputSerializer,
)
from exchanges.selectors import exchange_account_get_for_user, exchange_account_list
from exchanges.services.credentials import exchange_account_disable


@extend_schema(responses=ExchangeAccountOutputSerializer(many=True))
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def exchange_account_list_api(request):
    """The caller's exchange accounts."""
    accounts = exchange_account_list(user=request.user)
    return Response(ExchangeAccountOutputSerializer(accounts, many=True).data)


@extend_schema(responses=ExchangeAccountOutputSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def exchange_account_detail_api(request, id):  # noqa: A002
    """One of the caller's exchange accounts (404 for anyone else's)."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    return Response(ExchangeAccountOutputSerializer(account).data)


@extend_schema(
    request=ExchangeAccountDisableInputSerializer, responses=ExchangeAccountOutputSerializer
)
@api_view(["POST"])
@permission_classes([HasTradeScope])
def exchange_account_disable_api(request, id):  # noqa: A002
    """Stop trading on an exchange account (a per-account kill switch); needs trade scope."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    serializer = ExchangeAccountDisableInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    reason = serializer.validated_data.get("reason") or "Stopped by the owner through the API."
    account = exchange_account_disable(
        account=account, reason=reason, actor=request.user, ip=client_ip(request)
    )
    return Response(ExchangeAccountOutputSerializer(account).data)
