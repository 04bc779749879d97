"""Sandbox users, keys and funding (what the `sandbox_user` and `sandbox_fund` commands call)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from exchanges.sandbox.models import SandboxApiKey, SandboxDeposit, SandboxUser


@dataclass(frozen=True)
class IssuedKey:
    user: SandboxUser
    api_key: str
    secret: str


@transaction.atomic
def sandbox_user_create(
    *,
    name: str,
    can_trade: bool = True,
    enable_withdrawals: bool = False,
    ip_restrict: bool = False,
) -> IssuedKey:
    """Create (or reuse) a sandbox user and issue it a new API key and secret."""
    user, _ = SandboxUser.objects.get_or_create(name=name)
    key = SandboxApiKey.objects.create(
        user=user,
        api_key=secrets.token_hex(32),
        secret=secrets.token_hex(32),
        can_trade=can_trade,
        enable_withdrawals=enable_withdrawals,
        ip_restrict=ip_restrict,
    )
    return IssuedKey(user, key.api_key, key.secret)


def sandbox_fund(*, name: str, asset: str, amount: Decimal, venue: str = "") -> SandboxDeposit:
    """Credit a sandbox user's balance on one venue (or every venue when venue is empty)."""
    from exchanges import registry

    if amount <= 0:
        raise ValidationError({"amount": "must be positive"})
    if venue and not registry.is_sandbox(venue):
        raise ValidationError({"venue": f"{venue!r} is not a sandbox venue"})
    try:
        user = SandboxUser.objects.get(name=name)
    except SandboxUser.DoesNotExist:
        raise ValidationError({"name": f"no sandbox user {name!r}"}) from None
    return SandboxDeposit.objects.create(user=user, venue=venue, asset=asset.upper(), amount=amount)
