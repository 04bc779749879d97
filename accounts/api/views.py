"""Account API: who am I, with which token scope."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from accounts.models import ApiToken


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
