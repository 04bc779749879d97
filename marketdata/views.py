"""Markets pages: every market collected, and one market's chart, book, trades and ticker.

Market data is public to every signed-in user; like every page, these need a sign-in and (by
the middleware) the second factor. The page draws its chart from `market_candles_json` and
then follows the market's websocket (marketdata.consumers).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from marketdata import selectors
from marketdata.timeframes import TIMEFRAMES_MS, timeframe_ms

DEFAULT_TIMEFRAME = "1h"


def _market(exchange: str, slug: str) -> selectors.Market:
    return selectors.market_get(exchange=exchange, symbol=selectors.symbol_from_slug(slug))


@login_required
@require_GET
def market_list(request):
    """Every market collected, with its last price and spread."""
    return render(request, "marketdata/market_list.html", {"rows": selectors.market_list()})


@login_required
@require_GET
def market_detail(request, exchange: str, symbol: str):
    """One market: ticker, candlestick chart, order-book ladder and depth, recent trades."""
    market = _market(exchange, symbol)
    timeframe = request.GET.get("timeframe", DEFAULT_TIMEFRAME)
    if timeframe not in TIMEFRAMES_MS:
        timeframe = DEFAULT_TIMEFRAME
    context = {
        "market": market,
        "summary": selectors.market_summary(market=market),
        "book": selectors.market_book_ladder(market=market),
        "timeframes": list(TIMEFRAMES_MS),
        "timeframe": timeframe,
        "candles_url": reverse("marketdata:market-candles", args=[market.exchange, market.slug]),
        # websocket routes live outside the URLconf (config/routing.py)
        "socket_path": f"/ws/markets/{market.exchange}/{market.slug}/",
    }
    return render(request, "marketdata/market_detail.html", context)


@login_required
@require_GET
def market_candles(request, exchange: str, symbol: str):
    """Candles of one market as JSON for the chart: ?timeframe= (default 1h), ?limit=."""
    timeframe = request.GET.get("timeframe", DEFAULT_TIMEFRAME)
    try:
        timeframe_ms(timeframe)
    except ValueError as exc:  # "unsupported timeframe '7m'; use one of 1m, 5m, ..."
        return JsonResponse({"error": str(exc)}, status=400)
    try:
        limit = int(request.GET.get("limit", selectors.MARKET_CANDLE_LIMIT))
    except ValueError:
        return JsonResponse({"error": "limit must be a whole number"}, status=400)
    if not 1 <= limit <= selectors.MAX_MARKET_CANDLES:
        return JsonResponse(
            {"error": f"limit must be between 1 and {selectors.MAX_MARKET_CANDLES}"}, status=400
        )
    try:
        market = _market(exchange, symbol)
    except Http404:
        return JsonResponse({"error": "no such market"}, status=404)
    bars = selectors.market_candles(market=market, timeframe=timeframe, limit=limit)
    candles = [selectors.candle_json(bar) for bar in bars]
    return JsonResponse(
        {
            "exchange": market.exchange,
            "symbol": market.symbol,
            "timeframe": timeframe,
            "timeframe_seconds": TIMEFRAMES_MS[timeframe] // 1000,
            "candles": candles,
        }
    )


@login_required
@require_GET
def arbitrage_list(request):
    """Live cross-exchange spreads and triangles, net of costs, for the size asked (?size=)."""
    from marketdata.services.arbitrage import (
        SizeError,
        arbitrage_size_parse,
        arbitrage_size_request,
    )

    try:
        size = arbitrage_size_parse(request.GET.get("size"))
    except SizeError as exc:
        context = {"error": str(exc), "size_text": request.GET.get("size", "")}
        return render(request, "marketdata/arbitrage_list.html", context, status=400)
    arbitrage_size_request(size=size)  # the worker scans this size from its next scan on
    board = selectors.arbitrage_board(size=size)
    if request.htmx:
        return render(request, "marketdata/_arbitrage_board.html", {"board": board})
    context = {
        "board": board,
        "size_text": f"{size:f}",
        # websocket routes live outside the URLconf (config/routing.py)
        "socket_path": f"/ws/arbitrage/{size:f}/",
    }
    return render(request, "marketdata/arbitrage_list.html", context)
