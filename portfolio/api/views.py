"""Portfolio over the API (read scope): summary, one bot's books, its equity curve, balances."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from config.inputs import Pagination
from config.readcache import cached_read
from config.schema import page_parameters, paginated
from portfolio.api.serializers import (
    BalanceSerializer,
    BotPortfolioSerializer,
    EquityPointSerializer,
    PortfolioSerializer,
    amount,
    balance_data,
    bot_portfolio_data,
    equity_point_data,
)
from portfolio.selectors import (
    bot_performance_list,
    bot_valuation_get,
    exchange_balance_list,
    portfolio_bot_get_for_user,
    portfolio_summary,
)


@extend_schema(responses=PortfolioSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
@cached_read
def portfolio_api(request):
    """Every bot of the caller valued now, totals per valuation asset, fees, balances."""
    summary = portfolio_summary(user=request.user)
    data = {
        "totals": {
            asset: {name: amount(value) for name, value in totals.items()}
            for asset, totals in summary.totals.items()
        },
        "fees_by_asset": {asset: amount(fee) for asset, fee in summary.fees_by_asset.items()},
        "bots": [bot_portfolio_data(bot, value) for bot, value in summary.bots],
        "balances": [balance_data(balance) for balance in summary.balances],
    }
    return Response(data)


@extend_schema(responses=BotPortfolioSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
@cached_read
def bot_portfolio_api(request, id):  # noqa: A002
    """One of the caller's bots: holdings, positions, FIFO PnL and fees (404 for others)."""
    bot = portfolio_bot_get_for_user(user=request.user, bot_id=id)
    value = bot_valuation_get(user=request.user, bot_id=bot.pk)
    return Response(bot_portfolio_data(bot, value))


@extend_schema(
    parameters=[
        OpenApiParameter("since", OpenApiTypes.DATETIME, description="ISO 8601, inclusive"),
        *page_parameters(),
    ],
    responses=paginated(EquityPointSerializer),
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
@cached_read
def bot_equity_api(request, id):  # noqa: A002
    """The bot's per-minute performance, oldest first, paginated (the equity curve)."""
    since = request.query_params.get("since")
    since_at = parse_datetime(since) if since else None
    if since and since_at is None:
        raise ValidationError({"since": ["Give an ISO 8601 date and time."]})
    rows = bot_performance_list(user=request.user, bot_id=id, since=since_at)
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request)
    return paginator.get_paginated_response([equity_point_data(row) for row in page])


@extend_schema(responses=BalanceSerializer(many=True))
@api_view(["GET"])
@permission_classes([IsAuthenticated])
@cached_read
def balance_list_api(request):
    """The caller's exchange account balances, as last fetched from the exchanges."""
    return Response([balance_data(b) for b in exchange_balance_list(user=request.user)])
