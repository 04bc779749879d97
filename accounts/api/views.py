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
