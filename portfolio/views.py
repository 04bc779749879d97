"""The portfolio page (every bot valued, totals, fees, balances) and the signed-in dashboard."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from config.readcache import user_cached
from exchanges.selectors import (
    exchange_account_get_for_user,
    exchange_account_list,
    sandbox_venue_next,
)
from portfolio.selectors import (
    FEED_LENGTH,
    dashboard_feed,
    dashboard_get,
    portfolio_equity_series,
    portfolio_summary,
)
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


@login_required
def dashboard(request):
    """The signed-in home page: totals, today's PnL, equity chart, exposure, bots, alerts, feed."""
    user = request.user
    board, feed = user_cached(
        user.pk, "dashboard", lambda: (dashboard_get(user=user), dashboard_feed(user=user))
    )
    context = {
        "board": board,
        "feed": feed,
        "bot_names": {line.bot.pk: line.bot.name for line in board.bots},
        "feed_length": FEED_LENGTH,
        # a user without any exchange account is offered the one-click funded sandbox account
        "sandbox_venue": (
            None
            if exchange_account_list(user=request.user).exists()
            else sandbox_venue_next(user=request.user)
        ),
    }
    return render(request, "portfolio/dashboard.html", context)


@login_required
@require_GET
def equity_chart(request):
    """The user's total value as [{time, value}] for ?range=1d|1w|all (and ?asset=, USDT)."""
    range_key = request.GET.get("range", "1d")
    asset = request.GET.get("asset", "USDT").upper()[:16]
    try:
        series = portfolio_equity_series(user=request.user, range_key=range_key, asset=asset)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    points = [{"time": int(at.timestamp()), "value": float(value)} for at, value in series]
    return JsonResponse(points, safe=False)
