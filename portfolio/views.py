"""The portfolio page (every bot valued, totals, fees, balances) and the signed-in dashboard."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from config.readcache import user_cached
from exchanges.selectors import (
    exchange_account_get_for_user,
    exchange_account_list,
    sandbox_venue_next,
)
from portfolio.report import (
    DEFAULT_SORT,
    SORT_KEYS,
    bots_snapshot_stats,
    comparison_lines,
    comparison_sort,
    fee_lines,
    fee_totals,
    portfolio_value_series,
    sort_key_parse,
)
from portfolio.selectors import (
    FEED_LENGTH,
    dashboard_feed,
    dashboard_get,
    portfolio_equity_series,
    portfolio_summary,
)
from portfolio.services import exchange_balances_refresh


def _main_asset(summary) -> str:
    if not summary.totals:
        return "USDT"
    return max(summary.totals.items(), key=lambda item: item[1]["value"])[0]


@login_required
@require_GET
def overview(request):
    """The user's whole portfolio: value over time, bots compared, fees, holdings, balances."""
    user = request.user

    def compute():
        summary = portfolio_summary(user=user)
        stats = bots_snapshot_stats(bot.pk for bot, _ in summary.bots)
        fees = fee_lines(user=user)
        # the fees and paper holdings rendered with their data (they depend on nothing else)
        books_html = render_to_string(
            "portfolio/_overview_books.html",
            {
                "summary": summary,
                "fees": fees,
                "fee_totals": fee_totals(fees),
                "paper_bots": [(bot, value) for bot, value in summary.bots if not bot.is_live],
                "live_bots": [bot for bot, _ in summary.bots if bot.is_live],
            },
        )
        return summary, stats, fees, books_html

    # the valuations, their statistics and the fees kept per user until their data moves
    # (config/readcache.py), as the dashboard's; sorting and the page are per request
    summary, stats, fees, books_html = user_cached(user.pk, "portfolio-page", compute)
    sort_error = None
    try:
        sort, descending = sort_key_parse(request.GET.get("sort"))
    except ValueError as exc:  # a bad ?sort= is said on the page, sorted by the default
        sort_error, sort, descending = str(exc), DEFAULT_SORT, False
    lines = comparison_sort(
        comparison_lines(summary.bots, stats=stats), key=sort, descending=descending
    )
    comparison = {
        "lines": lines,
        "sort": sort,
        "descending": descending,
        "sort_error": sort_error,
        "columns": [(key, title) for key, (title, _) in SORT_KEYS.items()],
    }
    if request.htmx and request.htmx.target == "portfolio-comparison":
        return render(request, "portfolio/_overview_comparison.html", comparison)
    context = {
        "summary": summary,
        "comparison": comparison,
        "fees": fees,
        "books_html": books_html,
        "paper_bots": [(bot, value) for bot, value in summary.bots if not bot.is_live],
        "live_bots": [bot for bot, _ in summary.bots if bot.is_live],
        "main_asset": _main_asset(summary),
        "accounts": exchange_account_list(user=request.user).filter(status="active"),
    }
    return render(request, "portfolio/overview.html", context)


def _points(rows) -> list[dict]:
    return [{"time": int(at.timestamp()), "value": float(value)} for at, value in rows]


@login_required
@require_GET
def value_chart(request):
    """Value over time for ?range=1d|1w|all&asset=: total, cash, crypto and one line per bot."""
    range_key = request.GET.get("range", "1d")
    asset = request.GET.get("asset", "USDT").upper()[:16]
    try:
        series = portfolio_value_series(user=request.user, range_key=range_key, asset=asset)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {
            "asset": series.asset,
            "total": _points(series.total),
            "cash": _points(series.cash),
            "crypto": _points(series.crypto),
            "bots": [
                {"id": pk, "name": name, "points": _points(rows)} for pk, name, rows in series.bots
            ],
        }
    )


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

    def compute():
        board, feed = dashboard_get(user=user), dashboard_feed(user=user)
        # the two longest parts rendered with the data they show (they depend on nothing
        # else): most of the page's rendering time was the feed's lines and the bots' rows
        parts = {
            "feed": render_to_string("portfolio/_dashboard_feed.html", {"feed": feed}),
            "bots": render_to_string("portfolio/_dashboard_bots.html", {"lines": board.bots}),
        }
        # a user without any exchange account is offered the one-click funded sandbox account
        sandbox_venue = (
            None if exchange_account_list(user=user).exists() else sandbox_venue_next(user=user)
        )
        return board, feed, parts, sandbox_venue

    board, feed, parts, sandbox_venue = user_cached(user.pk, "dashboard-parts", compute)
    context = {
        "board": board,
        "feed": feed,
        "parts": parts,
        "bot_names": {line.bot.pk: line.bot.name for line in board.bots},
        "feed_length": FEED_LENGTH,
        "sandbox_venue": sandbox_venue,
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
