"""Trading API shapes. Money is a string (exact decimal); secrets never appear."""

from rest_framework import serializers

from trading.models import BUDGET_HELP, Bot, BotEvent, Fill, KillSwitch, Order, Signal


class BotVenueOutputSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    exchange_account_id = serializers.UUIDField(allow_null=True)


class BotOutputSerializer(serializers.ModelSerializer):
    venues = BotVenueOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Bot
        fields = [
            "id",
            "name",
            "strategy",
            "params",
            "symbols",
            "venues",
            "mode",
            "budget",
            "paper_balances",
            "risk_limits",
            "on_breach",
            "timer_ms",
            "status",
            "status_reason",
            "status_changed_at",
            "checkpoint_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"budget": {"help_text": BUDGET_HELP}}


class BotVenueInputSerializer(serializers.Serializer):
    exchange = serializers.CharField(max_length=64, required=False, allow_blank=True)
    exchange_account_id = serializers.UUIDField(required=False, allow_null=True)


class BotCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    strategy = serializers.CharField(max_length=64, required=False, allow_blank=True)
    saved_config_id = serializers.IntegerField(required=False, allow_null=True)
    params = serializers.DictField(required=False)
    symbols = serializers.ListField(child=serializers.CharField(max_length=32), min_length=1)
    venues = BotVenueInputSerializer(many=True)
    budget = serializers.DecimalField(max_digits=36, decimal_places=18, help_text=BUDGET_HELP)
    mode = serializers.ChoiceField(choices=Bot.Mode.choices, default=Bot.Mode.PAPER)
    risk_limits = serializers.DictField(required=False)
    on_breach = serializers.ChoiceField(choices=Bot.OnBreach.choices, default=Bot.OnBreach.PAUSE)
    timer_ms = serializers.IntegerField(required=False, min_value=50, default=1000)
    paper_balances = serializers.DictField(required=False)
    start_inventory = serializers.DecimalField(
        max_digits=36,
        decimal_places=18,
        required=False,
        allow_null=True,
        help_text="Paper only: base currency the bot starts with besides its budget in cash.",
    )
    confirm_live = serializers.BooleanField(required=False, default=False)


class BotActionInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)
    confirm_live = serializers.BooleanField(required=False, default=False)


class OrderOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = [
            "id",
            "bot_id",
            "client_order_id",
            "exchange_order_id",
            "mode",
            "exchange",
            "symbol",
            "side",
            "type",
            "time_in_force",
            "post_only",
            "price",
            "qty",
            "quote_qty",
            "filled_qty",
            "avg_price",
            "fee",
            "fee_asset",
            "status",
            "reason",
            "tag",
            "adopted",
            "created_at",
            "sent_at",
            "acknowledged_at",
            "closed_at",
            "updated_at",
        ]
        read_only_fields = fields


class FillOutputSerializer(serializers.ModelSerializer):
    client_order_id = serializers.CharField(source="order.client_order_id", read_only=True)

    class Meta:
        model = Fill
        fields = [
            "id",
            "bot_id",
            "order_id",
            "client_order_id",
            "mode",
            "exchange",
            "symbol",
            "trade_id",
            "side",
            "price",
            "qty",
            "fee",
            "fee_asset",
            "liquidity",
            "executed_at",
            "source",
        ]
        read_only_fields = fields


class SignalOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Signal
        fields = ["id", "at", "symbol", "kind", "indicators", "intents"]
        read_only_fields = fields


class BotEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = BotEvent
        fields = ["id", "at", "kind", "message", "data"]
        read_only_fields = fields


class KillSwitchOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = KillSwitch
        fields = [
            "id",
            "reason",
            "engaged_at",
            "released_at",
            "bots_stopped",
            "orders_cancelled",
        ]
        read_only_fields = fields


class KillSwitchInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)
