"""Account API: who am I, with which token scope."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.response import Response

from accounts.api.reauth import IdentityFields
from accounts.models import ApiToken
from config.schema import ERROR_SCHEMA


class MeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    auth = serializers.CharField()
    scope = serializers.CharField(allow_null=True)


@extend_schema(responses=MeOutputSerializer)
@api_view(["GET"])
def me(request):
    """The authenticated user and how this request was authenticated."""
    token = request.auth if isinstance(request.auth, ApiToken) else None
    data = {
        "id": request.user.pk,
        "email": request.user.email,
        "auth": "token" if token else "session",
        "scope": token.scope if token else None,
    }
    return Response(MeOutputSerializer(data).data)


@extend_schema(
    responses={(200, "application/zip"): bytes},
    description="All of the authenticated user's data as one zip archive (streamed): account, "
    "exchange accounts' metadata (never keys or secrets), bots, orders, fills, audit events.",
)
@api_view(["GET"])
def data_archive(request):
    """The authenticated user's data archive (any token scope)."""
    from accounts.data_export import user_data_archive_response
    from accounts.security import client_ip
    from compliance.services import audit_record

    audit_record(actor=request.user, action="account.data_download", ip=client_ip(request))
    return user_data_archive_response(user=request.user)


class AccountDeleteInputSerializer(IdentityFields):
    email = serializers.CharField(
        max_length=254, help_text="The account's email address, typed to confirm."
    )


@extend_schema(
    request=AccountDeleteInputSerializer,
    responses={
        204: OpenApiResponse(description="The account was deleted."),
        409: OpenApiResponse(
            response=ERROR_SCHEMA,
            description="A bot could not be stopped or its orders are still being cancelled; "
            "nothing was deleted (the bots stay stopped). Try again in a minute.",
        ),
    },
    description="Delete the authenticated user's account, as Account > Your data does. The "
    "same confirmation as the page's re-authentication, for a session and a token alike: the "
    "typed email, the password and, with two-factor authentication, a current code; a "
    "read-scope token is refused (403). Live bots are stopped and their orders cancelled "
    "first; the audit events about the user are kept. Bad input changes nothing.",
)
@api_view(["POST"])
def account_delete(request):
    """Delete the caller's account after the page's confirmations (email, password, code)."""
    from django.contrib.auth import logout
    from django.core.exceptions import ValidationError as DjangoValidationError

    from accounts.security import client_ip
    from accounts.services.lifecycle import account_delete as account_delete_service

    if isinstance(request.auth, ApiToken) and not request.auth.can_trade:
        raise PermissionDenied("This API token has read scope; deleting the account needs more.")
    data = _validated(AccountDeleteInputSerializer, request.data)
    _identity_confirm(request, data)
    try:
        account_delete_service(user=request.user, ip=client_ip(request))
    except DjangoValidationError as exc:
        raise _NotDeletedYet(" ".join(exc.messages)) from exc
    if not isinstance(request.auth, ApiToken):
        logout(request._request)  # the session row is gone: end this request's session too
    return Response(status=status.HTTP_204_NO_CONTENT)


class _NotDeletedYet(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_deleted"
    default_detail = "The account could not be deleted yet; nothing was deleted."


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _identity_confirm(request, data: dict) -> None:
    """The page's rules for deleting the account: the typed email, then the password and, with
    2FA, a current code (accounts.api.reauth)."""
    from accounts.api.reauth import identity_confirm

    if data["email"].strip().lower() != request.user.email.lower():
        raise ValidationError({"email": ["That is not your account's email address."]})
    identity_confirm(request, password=data["password"], code=data.get("code") or "")
