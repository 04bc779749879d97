"""Exchange accounts over the API as on the pages: add one, rename it or switch its mode,
replace its keys, test its connection, delete it.

Adding or replacing keys, going live and deleting need the confirmation the pages ask for (a
recent password or code there): here the password and, with 2FA, a current code in the body
(accounts.api.reauth), for a session and a token alike, and a token with trade scope. The
answer to adding or replacing keys carries the key's warnings (withdrawals enabled, no IP
restriction), from the same check as "test connection".
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.api.permissions import require_trade_scope
from accounts.api.reauth import IdentityFields, identity_confirm
from accounts.security import client_ip
from config.api import invalid, validated
from exchanges.api.serializers import ExchangeAccountOutputSerializer
from exchanges.models import ExchangeAccount
from exchanges.registry import is_supported
from exchanges.services import credentials
from exchanges.services.connection import exchange_account_test_connection, key_warnings


class ExchangeAccountCreateInputSerializer(IdentityFields):
    exchange = serializers.CharField(
        max_length=64, help_text="A ccxt exchange id (binance, kraken, okx…) or a sandbox venue."
    )
    label = serializers.CharField(max_length=100)
    mode = serializers.ChoiceField(choices=ExchangeAccount.Mode.choices, default="paper")
    api_key = serializers.CharField(max_length=512, write_only=True)
    secret = serializers.CharField(max_length=4096, write_only=True)
    passphrase = serializers.CharField(
        max_length=512, required=False, allow_blank=True, default="", write_only=True
    )

    def validate_exchange(self, value: str) -> str:
        exchange = value.strip().lower()
        if not is_supported(exchange):
            raise serializers.ValidationError(f"Unknown exchange id {exchange!r}.")
        return exchange


class ExchangeAccountUpdateInputSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100, required=False)
    mode = serializers.ChoiceField(choices=ExchangeAccount.Mode.choices, required=False)
    password = serializers.CharField(
        max_length=4096,
        trim_whitespace=False,
        required=False,
        write_only=True,
        help_text="Needed to switch to live mode: the account's password.",
    )
    code = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="With 2FA, needed to switch to live mode: a current code.",
    )


class ExchangeAccountKeysInputSerializer(IdentityFields):
    api_key = serializers.CharField(max_length=512, write_only=True)
    secret = serializers.CharField(max_length=4096, write_only=True)
    passphrase = serializers.CharField(
        max_length=512, required=False, allow_blank=True, default="", write_only=True
    )


class ExchangeAccountKeyedOutputSerializer(ExchangeAccountOutputSerializer):
    key_warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="What the key's check found: withdrawals enabled, no IP restriction, or why "
        "the key could not be checked.",
    )

    class Meta(ExchangeAccountOutputSerializer.Meta):
        fields = [*ExchangeAccountOutputSerializer.Meta.fields, "key_warnings"]
        read_only_fields = fields


class ConnectionOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    balances = serializers.DictField(child=serializers.CharField(), help_text="Asset: total.")
    warnings = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(allow_blank=True)


def _keyed(account: ExchangeAccount) -> dict:
    body = ExchangeAccountOutputSerializer(account).data
    body["key_warnings"] = key_warnings(account)
    return body


create_schema = extend_schema(
    methods=["POST"],
    request=ExchangeAccountCreateInputSerializer,
    responses={201: ExchangeAccountKeyedOutputSerializer},
    description="Add an exchange account with its key (trade scope, and the password — with "
    "2FA a current code — as the page's re-authentication). The answer says what the key's "
    "check found.",
)


def exchange_account_create(request) -> Response:
    require_trade_scope(request, "adding exchange keys")
    data = validated(ExchangeAccountCreateInputSerializer, request.data)
    identity_confirm(request, password=data.pop("password"), code=data.pop("code", ""))
    try:
        account = credentials.exchange_account_create(
            user=request.user, ip=client_ip(request), **data
        )
    except DjangoValidationError as exc:
        raise invalid(exc) from None
    return Response(_keyed(account), status=status.HTTP_201_CREATED)


update_schema = extend_schema(
    methods=["PATCH"],
    request=ExchangeAccountUpdateInputSerializer,
    responses=ExchangeAccountOutputSerializer,
    description="Rename the account or switch its mode (trade scope); switching to live needs "
    "the password (and with 2FA a current code), as on the page.",
)


def exchange_account_update(request, account: ExchangeAccount) -> Response:
    require_trade_scope(request, "changing an exchange account")
    data = validated(ExchangeAccountUpdateInputSerializer, request.data)
    label, mode = data.get("label", account.label), data.get("mode", account.mode)
    if mode == ExchangeAccount.Mode.LIVE and not account.is_live:
        if not data.get("password"):
            raise serializers.ValidationError(
                {"password": ["Switching to live mode needs your password (and code)."]}
            )
        identity_confirm(request, password=data["password"], code=data.get("code", ""))
    try:
        account = credentials.exchange_account_update(
            account=account, label=label, mode=mode, ip=client_ip(request)
        )
    except DjangoValidationError as exc:
        raise invalid(exc) from None
    return Response(ExchangeAccountOutputSerializer(account).data)


delete_schema = extend_schema(
    methods=["DELETE"],
    request=IdentityFields,
    responses={204: OpenApiResponse(description="The account and its keys were deleted.")},
    description="Delete the account and its keys (trade scope, and the password — with 2FA a "
    "current code — in the body, as the page's re-authentication).",
)


def exchange_account_delete(request, account: ExchangeAccount) -> Response:
    require_trade_scope(request, "deleting an exchange account")
    data = validated(IdentityFields, request.data)
    identity_confirm(request, password=data["password"], code=data.get("code", ""))
    try:
        credentials.exchange_account_delete(account=account, ip=client_ip(request))
    except DjangoValidationError as exc:
        raise invalid(exc) from None
    return Response(status=status.HTTP_204_NO_CONTENT)


keys_schema = extend_schema(
    request=ExchangeAccountKeysInputSerializer,
    responses=ExchangeAccountKeyedOutputSerializer,
    description="Replace the account's API key, secret and passphrase (trade scope, and the "
    "password — with 2FA a current code — as the page's re-authentication). The answer says "
    "what the new key's check found.",
)


def exchange_account_keys(request, account: ExchangeAccount) -> Response:
    require_trade_scope(request, "replacing exchange keys")
    data = validated(ExchangeAccountKeysInputSerializer, request.data)
    identity_confirm(request, password=data.pop("password"), code=data.pop("code", ""))
    try:
        account = credentials.exchange_account_replace_keys(
            account=account, ip=client_ip(request), **data
        )
    except DjangoValidationError as exc:
        raise invalid(exc) from None
    return Response(_keyed(account))


def exchange_account_test(request, account: ExchangeAccount) -> Response:
    report = exchange_account_test_connection(account=account)
    body = {
        "ok": report.ok,
        "balances": {asset: str(total) for asset, total in report.balances.items()},
        "warnings": list(report.warnings),
        "error": report.error,
    }
    return Response(ConnectionOutputSerializer(body).data)
