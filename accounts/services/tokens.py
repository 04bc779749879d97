"""API tokens: created once and shown once, stored as a SHA-256 hash, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken
from accounts.notifications import security_notice_send
from compliance.services import audit_record
from config.logging import register_secret

TOKEN_PREFIX = "prg_"
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(raw: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, user, name: str, scope: str, expires_at: datetime | None = None, ip: str | None = None
) -> tuple[ApiToken, str]:
    """Create a token; return it with the raw value, which is never available again."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the token a name."
    if scope not in ApiToken.Scope.values:
        errors["scope"] = "Choose read or trade."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    if errors:
        raise ValidationError(errors)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    register_secret(raw)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        scope=scope,
        expires_at=expires_at,
        prefix=raw[:10],
        token_hash=token_hash(raw),
    )
    audit_record(
        actor=user,
        action="api_token.create",
        target=token,
        ip=ip,
        after={
            "name": name,
            "scope": scope,
            "token_prefix": token.prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    security_notice_send(
        user=user,
        subject="API token created",
        body=f"An API token '{name}' with {scope} scope was created.",
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, ip: str | None = None) -> ApiToken:
    """Revoke a token; it stops working at once."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=token.user, action="api_token.revoke", target=token, ip=ip)
    return token


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The usable token for a raw value (updating last use), or None."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    # get(), not first(): the hash is unique, and first() would order by the model's ordering,
    # whose compilation was the largest part of an API request's CPU
    try:
        token = ApiToken.objects.select_related("user").get(token_hash=token_hash(raw))
    except ApiToken.DoesNotExist:
        token = None
    now = timezone.now()
    if token is None or not token.is_usable(now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
