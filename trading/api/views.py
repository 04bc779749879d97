"""Bots, orders and fills over the API: reads need any token; trading needs trade scope.

Going live needs a browser session that passed 2FA and re-authenticated recently, plus
`confirm_live: true`; API tokens can run paper bots and stop or kill any bot.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.api.permissions import HasTradeScope
from config.inputs import Pagination
from config.readcache import cached_read
from config.schema import page_parameters, paginated
from trading.api.serializers import (
    BotActionInputSerializer,
    BotCreateInputSerializer,
    BotEventOutputSerializer,
    BotOutputSerializer,
    FillOutputSerializer,
    KillSwitchInputSerializer,
    KillSwitchOutputSerializer,
    OrderOutputSerializer,
    SignalOutputSerializer,
)
from trading.selectors import (
    bot_event_list,
    bot_get_for_user,
    bot_list,
    fill_list,
    order_get_for_user,
    order_list,
    signal_list,
)
from trading.services import bots as bot_services


def _invalid(exc: DjangoValidationError):
    detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
    return serializers.ValidationError(detail)


def _page(request, queryset, serializer_class):
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


@extend_schema(
    methods=["GET"],
    responses=BotOutputSerializer(many=True),
    parameters=[OpenApiParameter("status", str, required=False)],
)
@extend_schema(
    methods=["POST"],
    request=BotCreateInputSerializer,
    responses={201: BotOutputSerializer},
    extensions={"x-not-found": True},  # saved_config_id of no config of the caller's
)
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
@cached_read
def bot_list_api(request):
    """The caller's bots; POST creates a draft bot (trade scope)."""
    if request.method == "GET":
        bots = bot_list(user=request.user, status=request.query_params.get("status") or None)
        return Response(BotOutputSerializer(bots, many=True).data)
    if not HasTradeScope().has_permission(request, None):
        return Response(
            {
                "error": {
                    "code": "permission_denied",
                    "message": HasTradeScope.message,
                    "fields": {},
                }
            },
            status=status.HTTP_403_FORBIDDEN,
        )
    serializer = BotCreateInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    saved = None
    if data.get("saved_config_id"):
        from strategies.selectors import strategy_config_get_for_user

        saved = strategy_config_get_for_user(user=request.user, id=data["saved_config_id"])
    try:
        bot = bot_services.bot_create(
            user=request.user,
            name=data["name"],
            strategy=data.get("strategy") or (saved.strategy if saved else ""),
            params=data.get("params"),
            symbols=data["symbols"],
            venues=[dict(v) for v in data["venues"]],
            budget=data["budget"],
            mode=data["mode"],
            risk_limits=data.get("risk_limits"),
            on_breach=data["on_breach"],
            timer_ms=data["timer_ms"],
            paper_balances=data.get("paper_balances"),
            start_inventory=data.get("start_inventory"),
            saved_config=saved,
            live=bot_services.live_consent_from_request(request, confirmed=data["confirm_live"]),
        )
    except DjangoValidationError as exc:
        raise _invalid(exc) from None
    return Response(BotOutputSerializer(bot).data, status=status.HTTP_201_CREATED)


@extend_schema(responses=BotOutputSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
@cached_read
def bot_detail_api(request, id):  # noqa: A002
    """One of the caller's bots (404 for anyone else's)."""
    return Response(BotOutputSerializer(bot_get_for_user(user=request.user, id=id)).data)


def _action(request, id, act):  # noqa: A002
    bot = bot_get_for_user(user=request.user, id=id)
    serializer = BotActionInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    try:
        result = act(bot, data)
    except DjangoValidationError as exc:
        raise _invalid(exc) from None
    bot.refresh_from_db()
    body = BotOutputSerializer(bot).data
    if isinstance(result, int):
        body["orders_cancelled"] = result
    return Response(body)


def _consent(request, data):
    return bot_services.live_consent_from_request(request, confirmed=data["confirm_live"])


@extend_schema(request=BotActionInputSerializer, responses=BotOutputSerializer)
@api_view(["POST"])
@permission_classes([HasTradeScope])
def bot_start_api(request, id):  # noqa: A002
    """Start the bot: it reconciles with the exchange, then trades (trade scope)."""
    return _action(
        request,
        id,
        lambda bot, data: bot_services.bot_start(
            bot=bot, actor=request.user, live=_consent(request, data)
        ),
    )


@extend_schema(request=BotActionInputSerializer, responses=BotOutputSerializer)
@api_view(["POST"])
@permission_classes([HasTradeScope])
def bot_pause_api(request, id):  # noqa: A002
    """Pause the bot: its orders are cancelled, its state kept (trade scope)."""
    return _action(
        request,
        id,
        lambda bot, data: bot_services.bot_pause(
            bot=bot, actor=request.user, reason=data.get("reason") or "Paused by the owner."
        ),
    )


@extend_schema(request=BotActionInputSerializer, responses=BotOutputSerializer)
@api_view(["POST"])
@permission_classes([HasTradeScope])
def bot_resume_api(request, id):  # noqa: A002
    """Resume a paused bot (trade scope)."""
    return _action(
        request,
        id,
        lambda bot, data: bot_services.bot_resume(
            bot=bot, actor=request.user, live=_consent(request, data)
        ),
    )


@extend_schema(request=BotActionInputSerializer, responses=BotOutputSerializer)
@api_view(["POST"])
@permission_classes([HasTradeScope])
def bot_stop_api(request, id):  # noqa: A002
    """Stop the bot: it cancels its orders, then stops (trade scope)."""
    return _action(
        request,
        id,
        lambda bot, data: bot_services.bot_stop(
            bot=bot, actor=request.user, reason=data.get("reason") or "Stopped by the owner."
        ),
    )


@extend_schema(request=BotActionInputSerializer, responses=BotOutputSerializer)
@api_view(["POST"])
@permission_classes([HasTradeScope])
def bot_kill_api(request, id):  # noqa: A002
    """Kill the bot now: every order cancelled, the bot stopped (trade scope)."""
    return _action(
        request,
        id,
        lambda bot, data: bot_services.bot_kill(
            bot=bot, actor=request.user, reason=data.get("reason") or "Killed by the owner."
        ),
    )


def _bot_filter(request):
    bot_id = request.query_params.get("bot")
    return bot_get_for_user(user=request.user, id=bot_id) if bot_id else None


def _active(request):
    value = request.query_params.get("active")
    if value is None:
        return None
    choice = {"true": True, "1": True, "false": False, "0": False}.get(value.lower())
    if choice is None:
        raise serializers.ValidationError({"active": ["Give true or false."]})
    return choice


_PAGE_PARAMS = page_parameters()
_LIST_PARAMS = [OpenApiParameter("bot", int, required=False), *_PAGE_PARAMS]


@extend_schema(
    operation_id="v1_orders_list",
    responses=paginated(OrderOutputSerializer),
    parameters=[*_LIST_PARAMS, OpenApiParameter("active", bool, required=False)],
    extensions={"x-not-found": True},
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
@cached_read
def order_list_api(request):
    """The caller's orders, newest first (?bot=<id>, ?active=true|false)."""
    orders = order_list(user=request.user, bot=_bot_filter(request), active=_active(request))
    return _page(request, orders, OrderOutputSerializer)


@extend_schema(responses=OrderOutputSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
@cached_read
def order_detail_api(request, id):  # noqa: A002
    """One of the caller's orders (404 for anyone else's)."""
    return Response(OrderOutputSerializer(order_get_for_user(user=request.user, id=id)).data)


@extend_schema(
    responses=paginated(FillOutputSerializer),
    parameters=_LIST_PARAMS,
    extensions={"x-not-found": True},
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
@cached_read
def fill_list_api(request):
    """The caller's fills, newest first (?bot=<id>)."""
    return _page(
        request, fill_list(user=request.user, bot=_bot_filter(request)), FillOutputSerializer
    )


@extend_schema(responses=paginated(SignalOutputSerializer), parameters=_PAGE_PARAMS)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
@cached_read
def bot_signal_list_api(request, id):  # noqa: A002
    """A bot's signals with their indicator values."""
    bot = bot_get_for_user(user=request.user, id=id)
    return _page(request, signal_list(user=request.user, bot=bot), SignalOutputSerializer)


@extend_schema(responses=paginated(BotEventOutputSerializer), parameters=_PAGE_PARAMS)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
@cached_read
def bot_event_list_api(request, id):  # noqa: A002
    """A bot's history: status changes, restarts, reconciliations, risk breaches."""
    bot = bot_get_for_user(user=request.user, id=id)
    return _page(request, bot_event_list(user=request.user, bot=bot), BotEventOutputSerializer)


@extend_schema(request=KillSwitchInputSerializer, responses={201: KillSwitchOutputSerializer})
@api_view(["POST"])
@permission_classes([HasTradeScope])
def kill_switch_api(request):
    """The caller's kill switch: cancel every order, stop every bot, block starts (trade scope).

    Release it in the web app (or ask an operator).
    """
    from trading.services.risk import kill_switch_engage

    serializer = KillSwitchInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    reason = serializer.validated_data.get("reason") or "Engaged by the owner through the API."
    switch = kill_switch_engage(user=request.user, reason=reason, actor=request.user)
    return Response(KillSwitchOutputSerializer(switch).data, status=status.HTTP_201_CREATED)
