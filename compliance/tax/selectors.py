"""Reads of tax lots' inputs, scoped to their owner (an outsider gets 404)."""

from __future__ import annotations

from django.db.models import Max, Min, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from compliance.tax_models import TaxExport, TaxTransaction
from exchanges.models import ExchangeAccount
from trading.models import Fill


def tax_transaction_list(*, user) -> QuerySet[TaxTransaction]:
    return TaxTransaction.objects.filter(user=user).order_by("-occurred_at", "-id")


def tax_transaction_get_for_user(*, user, id) -> TaxTransaction:  # noqa: A002
    return get_object_or_404(TaxTransaction, user=user, pk=id)


def tax_exchange_account_get_for_user(*, user, id) -> ExchangeAccount:  # noqa: A002
    return get_object_or_404(ExchangeAccount, user=user, pk=id)


def tax_years(*, user) -> list[int]:
    """Years with any fill or transaction of the user, and the current year, newest first."""
    now = timezone.now().year
    first, last = now, now
    for qs, field in ((Fill.objects.filter(user=user), "executed_at"),
                      (TaxTransaction.objects.filter(user=user), "occurred_at")):  # fmt: skip
        bounds = qs.aggregate(first=Min(field), last=Max(field))
        if bounds["first"]:
            first, last = min(first, bounds["first"].year), max(last, bounds["last"].year)
    return list(range(last, first - 1, -1))


def tax_export_list(*, user) -> QuerySet[TaxExport]:
    """The user's exports written by a worker, newest first (expired ones are pruned)."""
    return TaxExport.objects.filter(user=user).order_by("-created_at", "-id")


def tax_export_get_for_user(*, user, id) -> TaxExport:  # noqa: A002
    return get_object_or_404(TaxExport, user=user, pk=id)
