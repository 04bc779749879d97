"""Market data API: candles by exchange/symbol/timeframe/range, latest ticker and book."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from config.inputs import epoch_ms_field
from marketdata.selectors import candle_list, market_book_get, market_ticker_get
from marketdata.services.candles import dt_to_ms
from marketdata.timeframes import TIMEFRAMES_MS


class MarketInputSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=64)
    symbol = serializers.CharField(max_length=64)


class CandleInputSerializer(MarketInputSerializer):
    timeframe = serializers.ChoiceField(choices=sorted(TIMEFRAMES_MS), default="1m")
    start = epoch_ms_field(required=False, help_text="epoch ms, inclusive")
    end = epoch_ms_field(
        required=False, help_text="epoch ms, exclusive (an end at or before start: no bars)"
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=5000, default=500)


class CandleOutputSerializer(serializers.Serializer):
    ts = serializers.SerializerMethodField()
    open = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)
    high = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)
    low = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)
    close = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)
    volume = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)
    trade_count = serializers.IntegerField(allow_null=True)

    def get_ts(self, candle) -> int:
        return dt_to_ms(candle.ts)


class CandleListOutputSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    results = CandleOutputSerializer(many=True)


@extend_schema(parameters=[CandleInputSerializer], responses=CandleListOutputSerializer)
@api_view(["GET"])
def candle_list_api(request):
    """Candles of one market, oldest first (the latest `limit` when no start is given)."""
    params = CandleInputSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    candles = candle_list(
        exchange=data["exchange"],
        symbol=data["symbol"],
        timeframe=data["timeframe"],
        start_ms=data.get("start"),
        end_ms=data.get("end"),
        limit=data["limit"],
    )
    return Response(
        {
            "exchange": data["exchange"],
            "symbol": data["symbol"],
            "timeframe": data["timeframe"],
            "results": CandleOutputSerializer(candles, many=True).data,
        }
    )


@extend_schema(
    parameters=[MarketInputSerializer],
    responses=OpenApiTypes.OBJECT,
    extensions={"x-not-found": True},
)
@api_view(["GET"])
def ticker_api(request):
    """The latest ticker of a market, as the collector last saw it."""
    params = MarketInputSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    ticker = market_ticker_get(**params.validated_data)
    if ticker is None:
        raise NotFound("No ticker for this market yet: is a collector running for it?")
    return Response(ticker)


@extend_schema(
    parameters=[MarketInputSerializer],
    responses=OpenApiTypes.OBJECT,
    extensions={"x-not-found": True},
)
@api_view(["GET"])
def book_api(request):
    """The latest order book (top 20 levels) of a market."""
    params = MarketInputSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    book = market_book_get(**params.validated_data)
    if book is None:
        raise NotFound("No order book for this market yet: is a collector running for it?")
    return Response(book)
