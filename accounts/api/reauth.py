"""The API's form of the pages' re-authentication: the password (and, with two-factor
authentication, a current code) in the request itself, for a session and a token alike.

Pages ask for a recent password or OTP confirmation before a change that moves money or
secrets (exchange keys, going live, a new notification destination, deleting the account); an
API call carries the same confirmation in its body, checked by `identity_confirm`: rate limited
like the re-authentication form, a wrong password or code refused with a 400 naming the field,
and nothing changed.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import Throttled, ValidationError


class IdentityFields(serializers.Serializer):
    """The confirmation fields; input serializers of such operations inherit them."""

    password = serializers.CharField(
        max_length=4096,
        trim_whitespace=False,
        write_only=True,
        help_text="The account's password: the same confirmation the page asks for.",
    )
    code = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="A current authenticator (TOTP) code or a backup code: required when the "
        "account has two-factor authentication.",
    )


def identity_confirm(request, *, password: str, code: str = "") -> None:
    """Refuse (400/429) unless `password` (and `code`, with 2FA) confirm the caller."""
    from allauth.core import ratelimit
    from django.contrib.auth import authenticate

    from accounts.security import client_ip
    from accounts.services import two_factor

    user = request.user
    if not ratelimit.consume(request._request, action="reauthenticate", user=user):
        raise Throttled(detail="Too many attempts. Wait a minute and try again.")
    confirmed = authenticate(request._request, email=user.email, password=password)
    if confirmed is None or confirmed.pk != user.pk:
        raise ValidationError({"password": ["That password is not right."]})
    if two_factor.two_factor_enabled(user):
        code = (code or "").strip()
        if not code:
            raise ValidationError(
                {"code": ["This account has two-factor authentication: give a current code."]}
            )
        if not two_factor.second_factor_verify(user=user, code=code, ip=client_ip(request)).ok:
            raise ValidationError({"code": ["That code is not right (or codes are locked)."]})
