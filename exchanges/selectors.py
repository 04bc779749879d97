"""Reads of the exchanges app, scoped to their owner: an outsider gets 404."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from exchanges.models import ExchangeAccount


def exchange_account_list(*, user) -> QuerySet[ExchangeAccount]:
    """The user's exchange accounts, by label."""
    return ExchangeAccount.objects.filter(user_id=user.pk).order_by("label", "created_at")


def exchange_account_get_for_user(*, user, id) -> ExchangeAccount:  # noqa: A002
    """One of the user's exchange accounts; Http404 for anyone else's or an unknown id."""
    try:
        account_id = uuid.UUID(str(id))
    except ValueError:
        raise Http404("No such exchange account.") from None
    try:
        return exchange_account_list(user=user).get(pk=account_id)
    except ExchangeAccount.DoesNotExist:
        raise Http404("No such exchange account.") from None


def sandbox_venue_next(*, user) -> str | None:
    """The first sandbox venue the user has no exchange account on (None: every one, or none
    configured): where "Create a funded sandbox account" opens the next one."""
    from exchanges import registry

    taken = set(exchange_account_list(user=user).values_list("exchange", flat=True))
    return next((v for v in registry.sandbox_venues() if v not in taken), None)
