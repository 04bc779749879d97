"""API permissions by token scope."""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from accounts.models import ApiToken


class HasTradeScope(BasePermission):
    """Trading endpoints: a token needs trade scope; a read token gets 403.

    A browser session (already past the OTP step) may trade.
    """

    message = "This API token has read scope; trading needs a token with trade scope."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        token = request.auth
        if isinstance(token, ApiToken):
            return token.can_trade
        return True


def require_trade_scope(request, what: str) -> None:
    """For a view whose other methods only read: refuse (403) a read-scope token's write."""
    if isinstance(request.auth, ApiToken) and not request.auth.can_trade:
        raise PermissionDenied(f"This API token has read scope; {what} needs trade scope.")
