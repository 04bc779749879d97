"""The strategy catalog (any signed-in caller), the caller's saved strategy configs and the
caller's backtest runs (create, list, get, cancel, trades and equity as CSV)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.api.permissions import HasTradeScope
from strategies.api.serializers import (
    BacktestCompareOutputSerializer,
    BacktestRunDetailOutputSerializer,
    BacktestRunInputSerializer,
    BacktestRunOutputSerializer,
    CatalogEntryOutputSerializer,
    OptimizationDetailOutputSerializer,
    OptimizationInputSerializer,
    OptimizationOutputSerializer,
    StrategyConfigInputSerializer,
    StrategyConfigOutputSerializer,
)
from strategies.backtest_results import equity_csv, trades_csv
from strategies.compare import compare_runs
from strategies.models import BacktestRun
from strategies.selectors import (
    backtest_run_get_for_user,
    backtest_run_ids_parse,
    backtest_run_list,
    backtest_runs_get_for_user,
    strategy_catalog,
    strategy_config_get_for_user,
    strategy_config_list,
    strategy_get,
)
from strategies.services import (
    backtest_paper_bot_create,
    backtest_run_cancel,
    backtest_run_create,
    strategy_config_delete,
    strategy_config_save,
)


@extend_schema(responses=CatalogEntryOutputSerializer(many=True))
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def strategy_catalog_api(request):
    """Every strategy a bot can run, with the JSON schema of its parameters."""
    return Response(CatalogEntryOutputSerializer(strategy_catalog(), many=True).data)


@extend_schema(responses=CatalogEntryOutputSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def strategy_detail_api(request, strategy_id):
    """One catalog strategy (404 for an unknown id)."""
    return Response(CatalogEntryOutputSerializer(strategy_get(strategy_id=strategy_id)).data)


class _WritesNeedTradeScope(HasTradeScope):
    """Saved configs: any token reads them; changing them needs a token with trade scope."""

    message = "This API token has read scope; changing strategy configs needs trade scope."

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return bool(request.user and request.user.is_authenticated)
        return super().has_permission(request, view)


def _save(request, config=None):
    serializer = StrategyConfigInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    try:
        return strategy_config_save(
            user=request.user,
            name=data["name"],
            strategy=data["strategy"],
            params=data.get("params") or {},
            description=data.get("description", ""),
            config=config,
        )
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None


@extend_schema(methods=["GET"], responses=StrategyConfigOutputSerializer(many=True))
@extend_schema(
    methods=["POST"],
    request=StrategyConfigInputSerializer,
    responses=StrategyConfigOutputSerializer,
)
@api_view(["GET", "POST"])
@permission_classes([_WritesNeedTradeScope])
def strategy_config_list_api(request):
    """The caller's saved configs; POST saves one after validating it against the schema."""
    if request.method == "GET":
        configs = strategy_config_list(user=request.user)
        return Response(StrategyConfigOutputSerializer(configs, many=True).data)
    config = _save(request)
    return Response(StrategyConfigOutputSerializer(config).data, status=status.HTTP_201_CREATED)


@extend_schema(
    methods=["PUT"], request=StrategyConfigInputSerializer, responses=StrategyConfigOutputSerializer
)
@extend_schema(methods=["GET"], responses=StrategyConfigOutputSerializer)
@extend_schema(methods=["DELETE"], responses=None)
@api_view(["GET", "PUT", "DELETE"])
@permission_classes([_WritesNeedTradeScope])
def strategy_config_detail_api(request, id):  # noqa: A002
    """One of the caller's saved configs (404 for anyone else's)."""
    config = strategy_config_get_for_user(user=request.user, id=id)
    if request.method == "GET":
        return Response(StrategyConfigOutputSerializer(config).data)
    if request.method == "DELETE":
        strategy_config_delete(config=config)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(StrategyConfigOutputSerializer(_save(request, config)).data)


# -- backtests -------------------------------------------------------------------------------
class _BacktestWritesNeedTradeScope(_WritesNeedTradeScope):
    message = "This API token has read scope; running or cancelling backtests needs trade scope."


class _NotFinished(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_finished"
    default_detail = "The backtest has no results yet."


@extend_schema(methods=["GET"], responses=BacktestRunOutputSerializer(many=True))
@extend_schema(
    methods=["POST"], request=BacktestRunInputSerializer, responses=BacktestRunOutputSerializer
)
@api_view(["GET", "POST"])
@permission_classes([_BacktestWritesNeedTradeScope])
def backtest_run_list_api(request):
    """The caller's backtests, newest first; POST validates one and queues it for a worker."""
    if request.method == "GET":
        runs = backtest_run_list(user=request.user)
        return Response(BacktestRunOutputSerializer(runs, many=True).data)
    serializer = BacktestRunInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        run = backtest_run_create(user=request.user, **serializer.validated_data)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None
    return Response(BacktestRunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


@extend_schema(responses=BacktestRunDetailOutputSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def backtest_run_detail_api(request, id):  # noqa: A002
    """One of the caller's backtests with its results (404 for anyone else's)."""
    run = backtest_run_get_for_user(user=request.user, id=id)
    return Response(BacktestRunDetailOutputSerializer(run).data)


@extend_schema(request=None, responses=BacktestRunOutputSerializer)
@api_view(["POST"])
@permission_classes([_BacktestWritesNeedTradeScope])
def backtest_run_cancel_api(request, id):  # noqa: A002
    """Cancel a queued backtest, or stop a running one at its next progress report."""
    run = backtest_run_get_for_user(user=request.user, id=id)
    try:
        run = backtest_run_cancel(run=run)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None
    return Response(BacktestRunOutputSerializer(run).data)


@extend_schema(request=None, responses={201: OpenApiTypes.OBJECT})
@api_view(["POST"])
@permission_classes([_BacktestWritesNeedTradeScope])
def backtest_run_paper_bot_api(request, id):  # noqa: A002
    """Create a draft paper bot with the finished run's strategy, params, market and cash as
    budget (400 in words when the run is not done or the bot is refused)."""
    run = backtest_run_get_for_user(user=request.user, id=id)
    try:
        bot = backtest_paper_bot_create(run=run, name=str(request.data.get("name", "")).strip())
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None
    body = {"id": bot.pk, "name": bot.name, "status": bot.status, "mode": bot.mode}
    return Response(body, status=status.HTTP_201_CREATED)


def _csv(request, id, build, name):  # noqa: A002
    run = backtest_run_get_for_user(user=request.user, id=id)
    if run.status != BacktestRun.Status.DONE or not run.results:
        raise _NotFinished(f"The backtest is {run.status}; results exist once it is done.")
    response = HttpResponse(build(run.results), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="backtest-{run.pk}-{name}.csv"'
    return response


@extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def backtest_run_trades_csv_api(request, id):  # noqa: A002
    """The run's round-trip trades as CSV (409 until the run is done)."""
    return _csv(request, id, trades_csv, "trades")


@extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def backtest_run_equity_csv_api(request, id):  # noqa: A002
    """The run's sampled equity curve and buy-and-hold as CSV (409 until the run is done)."""
    return _csv(request, id, equity_csv, "equity")


@extend_schema(
    parameters=[
        OpenApiParameter(
            "ids",
            {"type": "string", "pattern": r"^\d{1,18}(,\d{1,18}){1,7}$"},
            required=True,
            description="2 to 8 of your finished run ids, comma-separated; the first is the "
            "benchmark",
        )
    ],  # fmt: skip
    responses=BacktestCompareOutputSerializer,
    extensions={"x-not-found": True},  # any run not the caller's: 404 (config/schema.py)
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def backtest_compare_api(request):
    """Compare runs: metrics, return curves, and a paired stationary bootstrap (Sharpe and
    return difference, 95% interval and p-value) of each against the first; Hansen's SPA with
    more than two; the verdict in one sentence. 404 if any run is not yours."""
    try:
        ids = backtest_run_ids_parse(request.query_params.getlist("ids"))
    except ValueError as exc:
        raise serializers.ValidationError({"ids": [str(exc)]}) from None
    runs = backtest_runs_get_for_user(user=request.user, ids=ids)
    try:
        comparison = compare_runs(runs)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None
    return Response(comparison)


# -- optimization ------------------------------------------------------------------------------
class _OptimizationWritesNeedTradeScope(_WritesNeedTradeScope):
    message = (
        "This API token has read scope; running or cancelling optimizations needs trade scope."
    )


@extend_schema(methods=["GET"], responses=OptimizationOutputSerializer(many=True))
@extend_schema(
    methods=["POST"], request=OptimizationInputSerializer, responses=OptimizationOutputSerializer
)
@api_view(["GET", "POST"])
@permission_classes([_OptimizationWritesNeedTradeScope])
def optimization_list_api(request):
    """The caller's parameter searches, newest first; POST validates one (grid, tpe or
    walk_forward) and queues it for a backtest worker."""
    from strategies.optimizations import optimization_create
    from strategies.selectors import optimization_list

    if request.method == "GET":
        return Response(
            OptimizationOutputSerializer(optimization_list(user=request.user), many=True).data
        )
    serializer = OptimizationInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        run = optimization_create(user=request.user, **serializer.validated_data)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None
    return Response(OptimizationOutputSerializer(run).data, status=status.HTTP_201_CREATED)


@extend_schema(responses=OptimizationDetailOutputSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def optimization_detail_api(request, id):  # noqa: A002
    """One of the caller's searches with its progress and results (404 for anyone else's)."""
    from strategies.selectors import optimization_get_for_user

    run = optimization_get_for_user(user=request.user, id=id)
    return Response(OptimizationDetailOutputSerializer(run).data)


@extend_schema(request=None, responses=OptimizationOutputSerializer)
@api_view(["POST"])
@permission_classes([_OptimizationWritesNeedTradeScope])
def optimization_cancel_api(request, id):  # noqa: A002
    """Cancel a queued search, or stop a running one at its next progress report."""
    from strategies.optimizations import optimization_cancel
    from strategies.selectors import optimization_get_for_user

    run = optimization_get_for_user(user=request.user, id=id)
    try:
        run = optimization_cancel(run=run)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None
    return Response(OptimizationOutputSerializer(run).data)


# -- config files ------------------------------------------------------------------------------
def _imported(build):
    try:
        return build()
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def strategy_config_export_api(request, id):  # noqa: A002
    """One of the caller's saved configs as its file's JSON (format peregrine.strategy_config)."""
    from strategies.config_files import strategy_config_export

    return Response(strategy_config_export(strategy_config_get_for_user(user=request.user, id=id)))


@extend_schema(
    request=OpenApiTypes.OBJECT,
    parameters=[OpenApiParameter("name", OpenApiTypes.STR, description="Instead of the file's")],
    responses={201: StrategyConfigOutputSerializer},
)
@api_view(["POST"])
@permission_classes([_WritesNeedTradeScope])
def strategy_config_import_api(request):
    """Save a strategy config from a file's JSON (the body); 400 naming each bad field."""
    from strategies.config_files import file_parse, strategy_config_import

    name = request.query_params.get("name", "")
    config = _imported(lambda: strategy_config_import(
        user=request.user, data=file_parse(request.data), name=name))  # fmt: skip
    return Response(StrategyConfigOutputSerializer(config).data, status=status.HTTP_201_CREATED)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def bot_config_export_api(request, id):  # noqa: A002
    """One of the caller's bots as its file's JSON (format peregrine.bot): the configuration,
    not its state, orders or exchange accounts."""
    from strategies.config_files import bot_config_export
    from trading.selectors import bot_get_for_user

    return Response(bot_config_export(bot_get_for_user(user=request.user, id=id)))


@extend_schema(
    request=OpenApiTypes.OBJECT,
    parameters=[OpenApiParameter("name", OpenApiTypes.STR, description="Instead of the file's")],
    responses={201: OpenApiTypes.OBJECT},
)
@api_view(["POST"])
@permission_classes([_WritesNeedTradeScope])
def bot_config_import_api(request):
    """Create a draft paper bot from a file's JSON (the body), through the same checks as a bot
    made by hand; 400 naming each bad field. `notes` says what was changed (a live bot's file
    comes in as paper)."""
    from strategies.config_files import bot_config_import, file_parse

    name = request.query_params.get("name", "")
    bot, notes = _imported(lambda: bot_config_import(
        user=request.user, data=file_parse(request.data), name=name))  # fmt: skip
    body = {"id": bot.pk, "name": bot.name, "status": bot.status, "mode": bot.mode, "notes": notes}
    return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(
    parameters=[
        OpenApiParameter(
            "start", OpenApiTypes.DATETIME, description="Default: the bot's first fill"
        ),
        OpenApiParameter("end", OpenApiTypes.DATETIME, description="Default: now"),
    ],
    responses=OpenApiTypes.OBJECT,
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def bot_paper_comparison_api(request, id):  # noqa: A002
    """The backtest of one of the caller's bots over its period next to its fills: PnL, fees
    and fills of both, the difference and its causes (fees, slippage, missed and extra fills),
    in words too; 404 for anyone else's bot."""
    from strategies.paper_compare import bot_paper_comparison
    from strategies.services import _aware
    from trading.selectors import bot_get_for_user

    bot = bot_get_for_user(user=request.user, id=id)
    errors: dict = {}
    start, end = (request.query_params.get(k) for k in ("start", "end"))
    start = _aware(errors, "start", start) if start else None
    end = _aware(errors, "end", end) if end else None
    if errors:
        raise serializers.ValidationError(errors)
    return Response(_imported(lambda: bot_paper_comparison(bot=bot, start=start, end=end)))
