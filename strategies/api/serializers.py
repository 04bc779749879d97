"""Strategy catalog and saved configs over the API."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from strategies.models import BacktestRun, Optimization, StrategyConfig


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
    # plain strings too (enum names would collide across apps); the values are documented
    slippage_model = serializers.CharField(read_only=True, help_text="none, fixed_bp or book_walk")
    data_source = serializers.CharField(read_only=True, help_text="candles, trades or book")

    class Meta:
        model = BacktestRun
        fields = [
            "id", "strategy", "params", "exchange", "symbol", "timeframe", "start", "end",
            "cash", "fee_rate", "slippage_bp", "slippage_model", "latency_ms", "data_source",
            "status", "bars_done", "bars_total",
            "progress_percent", "cancel_requested", "error", "warnings", "code_version",
            "data_fingerprint", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class BacktestRunDetailOutputSerializer(BacktestRunOutputSerializer):
    """One run with its results: metrics, sampled equity, chart bars, markers, trades, fills."""

    class Meta(BacktestRunOutputSerializer.Meta):
        fields = [*BacktestRunOutputSerializer.Meta.fields, "results"]
        read_only_fields = fields


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "number"}]})
class NumberOrTextField(serializers.Field):
    """A number given as a JSON number or as its text ("10000", 10000): the service parses it
    exactly (Decimal) and names the field when it is not a number."""

    default_error_messages = {"invalid": "Give a number or its text."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        return data if isinstance(data, str) else repr(data)

    def to_representation(self, value):
        return str(value)


class BacktestRunInputSerializer(serializers.Serializer):
    """Values are checked by the service, which names every bad field; these are the shapes."""

    strategy = serializers.CharField(max_length=64)
    params = serializers.DictField(required=False, default=dict)
    exchange = serializers.CharField(max_length=64)
    symbol = serializers.CharField(max_length=64, help_text="BASE/QUOTE, e.g. BTC/USDT")
    timeframe = serializers.CharField(max_length=8, help_text="1m, 5m, 15m, 1h, 4h or 1d")
    start = serializers.CharField(help_text="ISO date or date-time, UTC when no offset")
    end = serializers.CharField(help_text="ISO date or date-time (exclusive)")
    cash = NumberOrTextField(help_text="Starting quote cash, e.g. 10000")
    fee_rate = NumberOrTextField(
        required=False, help_text="Fee fraction; default the exchange's or 0.001"
    )
    slippage_bp = NumberOrTextField(required=False, default="0")
    slippage_model = serializers.CharField(
        max_length=16, required=False, allow_blank=True,
        help_text="none, fixed_bp (slippage_bp worse) or book_walk (market orders walk the "
        "order book; refused where no book data covers the period); default fixed_bp when "
        "slippage_bp is given, else none",
    )  # fmt: skip
    latency_ms = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=60_000,
        help_text="Milliseconds an order takes to reach the simulated exchange",
    )  # fmt: skip
    data_source = serializers.CharField(
        max_length=16, required=False, default="candles",
        help_text="candles (stored), trades or book (the data folder's trades and order-book "
        "files, for market makers too)",
    )  # fmt: skip


class BacktestPairOutputSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    against = serializers.IntegerField(help_text="The benchmark: the first run")
    identical = serializers.BooleanField(help_text="The same returns: nothing to test")
    block_size = serializers.IntegerField(help_text="Mean block length of the bootstrap")
    reps = serializers.IntegerField()
    sharpe_diff = serializers.FloatField(help_text="Annualized Sharpe of run minus benchmark")
    sharpe_ci = serializers.ListField(child=serializers.FloatField(), help_text="95% interval")
    sharpe_p = serializers.FloatField(help_text="Two-sided p-value of no difference")
    return_diff = serializers.FloatField(help_text="Total return over the common period")
    return_ci = serializers.ListField(child=serializers.FloatField())
    return_p = serializers.FloatField()


class BacktestSpaOutputSerializer(serializers.Serializer):
    p_value = serializers.FloatField(help_text="Hansen's SPA, consistent p-value")
    p_lower = serializers.FloatField()
    p_upper = serializers.FloatField()
    block_size = serializers.IntegerField()
    reps = serializers.IntegerField()


class BacktestCompareRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    strategy = serializers.CharField()
    params = serializers.DictField()
    market = serializers.CharField()
    start = serializers.CharField()
    end = serializers.CharField()
    metrics = serializers.DictField()


class BacktestCompareOutputSerializer(serializers.Serializer):
    """2 to 8 runs side by side; the first is the benchmark."""

    runs = BacktestCompareRunSerializer(many=True)
    curves = serializers.ListField(
        child=serializers.ListField(child=serializers.ListField(child=serializers.FloatField())),
        help_text="Per run: [ts_ms, return since start in %] points",
    )
    benchmark = serializers.IntegerField()
    periods = serializers.IntegerField(help_text="Common periods the test uses")
    period_ms = serializers.IntegerField(required=False)
    common_start_ms = serializers.IntegerField(required=False)
    common_end_ms = serializers.IntegerField(required=False)
    pairs = BacktestPairOutputSerializer(many=True)
    spa = BacktestSpaOutputSerializer(allow_null=True, help_text="With more than two runs")
    verdict = serializers.CharField(help_text="The answer in one plain sentence")


class OptimizationOutputSerializer(serializers.ModelSerializer):
    status = serializers.CharField(
        read_only=True, help_text="queued, running, done, failed or cancelled"
    )
    method = serializers.CharField(read_only=True, help_text="grid, tpe or walk_forward")
    objective = serializers.CharField(read_only=True, help_text="sharpe, return or return_dd")
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = Optimization
        fields = [
            "id", "strategy", "params", "space", "method", "objective", "options", "exchange",
            "symbol", "timeframe", "start", "end", "cash", "fee_rate", "status", "done", "total",
            "progress_percent", "cancel_requested", "error", "created_at", "started_at",
            "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class OptimizationDetailOutputSerializer(OptimizationOutputSerializer):
    """One search with its results: best, top combinations, heatmap (two parameters) or the
    walk-forward folds, stitched out-of-sample equity, gates and overfitting warning."""

    class Meta(OptimizationOutputSerializer.Meta):
        fields = [*OptimizationOutputSerializer.Meta.fields, "results"]
        read_only_fields = fields


class OptimizationInputSerializer(serializers.Serializer):
    """Shapes only; the service checks the values and names every bad field."""

    strategy = serializers.CharField(max_length=64)
    params = serializers.DictField(required=False, default=dict, help_text="Fixed parameters")
    space = serializers.DictField(
        help_text='Per parameter a list of values or {"min", "max", "step"}, e.g. '
        '{"fast": {"min": 5, "max": 50, "step": 5}, "slow": [30, 60, 90]}'
    )
    method = serializers.CharField(help_text="grid, tpe or walk_forward")
    objective = serializers.CharField(help_text="sharpe, return or return_dd")
    options = serializers.DictField(
        required=False, default=dict,
        help_text="trials (TPE), folds, ratio (in-sample / out-of-sample), min_folds, "
        "min_profitable_share (0-1), max_drawdown (0-1: the return_dd limit and the "
        "walk-forward gate)",
    )  # fmt: skip
    exchange = serializers.CharField(max_length=64)
    symbol = serializers.CharField(max_length=64)
    timeframe = serializers.CharField(max_length=8)
    start = serializers.CharField()
    end = serializers.CharField()
    cash = NumberOrTextField()
    fee_rate = NumberOrTextField(required=False)
