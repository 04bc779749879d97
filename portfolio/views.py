"""The portfolio page: every bot valued, totals, fees by asset, exchange balances."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from exchanges.selectors import exchange_account_get_for_user, exchange_account_list
from portfolio.selectors import portfolio_summary
from portfolio.services import exchange_balances_refresh


@login_required
def overview(request):
    """The user's whole portfolio now."""
    summary = portfolio_summary(user=request.user)
    accounts = exchange_account_list(user=request.user).filter(status="active")
    return render(request, "portfolio/overview.html", {"summary": summary, "accounts": accounts})


@login_required
@require_POST
def balances_refresh(request, id):  # noqa: A002
    """Fetch one exchange account's balances from the exchange now."""
    account = exchange_account_get_for_user(user=request.user, id=id)
    try:
        exchange_balances_refresh(account=account)
    except Exception as exc:  # the exchange is down or refused: say so, change nothing
        messages.error(request, f"'{account.label}': the exchange did not answer ({exc}).")
    else:
        messages.success(request, f"Balances of '{account.label}' refreshed.")
    return redirect("portfolio:overview")
