"""Strategy catalog and saved configs over the API."""

from rest_framework import serializers

from strategies.models import BacktestRun, StrategyConfig


class CatalogEntryOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    family = serializers.CharField()
    description = serializers.CharField()
    schema = serializers.DictField()
    venue_fields = serializers.ListField(child=serializers.CharField())
    symbol_fields = serializers.ListField(child=serializers.CharField())


class StrategyConfigOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = StrategyConfig
        fields = ["id", "name", "strategy", "params", "description", "created_at", "updated_at"]
        read_only_fields = fields


class StrategyConfigInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    strategy = serializers.CharField(max_length=64)
    params = serializers.DictField(required=False, default=dict)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


class BacktestRunOutputSerializer(serializers.ModelSerializer):
    # a plain string in the schema: "status" enums of other apps would collide in its name
    status = serializers.CharField(
        read_only=True, help_text="queued, running, done, failed or cancelled"
    )
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = BacktestRun
        fields = [
            "id", "strategy", "params", "exchange", "symbol", "timeframe", "start", "end",
            "cash", "fee_rate", "slippage_bp", "status", "bars_done", "bars_total",
            "progress_percent", "cancel_requested", "error", "warnings", "code_version",
            "data_fingerprint", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class BacktestRunDetailOutputSerializer(BacktestRunOutputSerializer):
    """One run with its results: metrics, sampled equity, chart bars, markers, trades, fills."""

    class Meta(BacktestRunOutputSerializer.Meta):
        fields = [*BacktestRunOutputSerializer.Meta.fields, "results"]
        read_only_fields = fields


class BacktestRunInputSerializer(serializers.Serializer):
    """Values are checked by the service, which names every bad field; these are the shapes."""

    strategy = serializers.CharField(max_length=64)
    params = serializers.DictField(required=False, default=dict)
    exchange = serializers.CharField(max_length=64)
    symbol = serializers.CharField(max_length=64, help_text="BASE/QUOTE, e.g. BTC/USDT")
    timeframe = serializers.CharField(max_length=8, help_text="1m, 5m, 15m, 1h, 4h or 1d")
    start = serializers.CharField(help_text="ISO date or date-time, UTC when no offset")
    end = serializers.CharField(help_text="ISO date or date-time (exclusive)")
    cash = serializers.CharField(help_text="Starting quote cash, e.g. 10000")
    fee_rate = serializers.CharField(
        required=False, allow_blank=True, help_text="Fee fraction; default the exchange's or 0.001"
    )
    slippage_bp = serializers.CharField(required=False, default="0")
