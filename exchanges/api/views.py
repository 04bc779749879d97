"""Exchange accounts over the API: read them (read scope); add, change, re-key, test, delete
and stop one (exchanges.api.accounts: trade scope, and the password for keys and going live)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.api.permissions import HasTradeScope
from accounts.security import client_ip
from exchanges.api import accounts
from exchanges.api.serializers import (
    ExchangeAccountDisableInputSerializer,
    ExchangeAccountOutputSerializer,
)
from exchanges.selectors import exchange_account_get_for_user, exchange_account_list
from exchanges.services.credentials import exchange_account_disable


@extend_schema(methods=["GET"], responses=ExchangeAccountOutputSerializer(many=True))
@accounts.create_schema
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def exchange_account_list_api(request):
    """The caller's exchange accounts; POST adds one."""
    if request.method == "POST":
        return accounts.exchange_account_create(request)
    rows = exchange_account_list(user=request.user)
    return Response(ExchangeAccountOutputSerializer(rows, many=True).data)


@extend_schema(methods=["GET"], responses=ExchangeAccountOutputSerializer)
@accounts.update_schema
@accounts.delete_schema
@api_view(["GET", "PATCH", "DELETE"])
@permission_classes([IsAuthenticated])
def exchange_account_detail_api(request, id):  # noqa: A002
    """One of the caller's exchange accounts (404 for anyone else's); PATCH changes its label
    or mode, DELETE deletes it."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    if request.method == "PATCH":
        return accounts.exchange_account_update(request, account)
    if request.method == "DELETE":
        return accounts.exchange_account_delete(request, account)
    return Response(ExchangeAccountOutputSerializer(account).data)


@accounts.keys_schema
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def exchange_account_keys_api(request, id):  # noqa: A002
    """Replace the account's keys (trade scope and the password)."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    return accounts.exchange_account_keys(request, account)


@extend_schema(request=None, responses=accounts.ConnectionOutputSerializer)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def exchange_account_test_api(request, id):  # noqa: A002
    """Test the account's key: read the balance and say what the key may do (any scope)."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    return accounts.exchange_account_test(request, account)


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
