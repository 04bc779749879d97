"""Operators: bots, orders and fills (read-only books), kill switches, user risk limits, and
the anonymous realized costs (fee intelligence)."""

from django.contrib import admin, messages

from trading.models import (
    Bot,
    BotEvent,
    BotVenue,
    Fill,
    KillSwitch,
    Order,
    RealizedCost,
    Signal,
    UserRiskLimits,
)


class BotVenueInline(admin.TabularInline):
    model = BotVenue
    fields = ["exchange", "exchange_account", "position"]
    readonly_fields = fields
    extra = 0
    can_delete = False


class BotEventInline(admin.TabularInline):
    model = BotEvent
    fields = ["at", "kind", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    ordering = ["-at"]


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    """Operators see every bot and can pause, stop or kill them; they do not edit them."""

    list_display = ["name", "user", "strategy", "mode", "status", "status_changed_at"]
    list_filter = ["status", "mode", "strategy"]
    search_fields = ["name", "user__email"]
    readonly_fields = [f.name for f in Bot._meta.fields]
    inlines = [BotVenueInline, BotEventInline]
    actions = ["pause", "stop", "kill"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _each(self, request, queryset, act, verb: str) -> None:
        from django.core.exceptions import ValidationError

        done = 0
        for bot in queryset:
            try:
                act(bot)
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{bot}: {' '.join(exc.messages)}", messages.WARNING)
        self.message_user(request, f"{verb} {done} bot(s).")

    @admin.action(description="Pause selected bots")
    def pause(self, request, queryset):
        from trading.services.bots import bot_pause

        reason = "Paused by an operator."
        self._each(
            request,
            queryset,
            lambda b: bot_pause(bot=b, reason=reason, actor=request.user),
            "Paused",
        )

    @admin.action(description="Stop selected bots (cancel their orders)")
    def stop(self, request, queryset):
        from trading.services.bots import bot_stop

        reason = "Stopped by an operator."
        self._each(
            request,
            queryset,
            lambda b: bot_stop(bot=b, reason=reason, actor=request.user),
            "Stopped",
        )

    @admin.action(description="Kill selected bots now (cancel every order)")
    def kill(self, request, queryset):
        from trading.services.bots import bot_kill

        reason = "Killed by an operator."
        self._each(
            request,
            queryset,
            lambda b: bot_kill(bot=b, reason=reason, actor=request.user),
            "Killed",
        )


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(_ReadOnly):
    list_display = ["client_order_id", "bot", "exchange", "symbol", "side", "qty", "status"]
    list_filter = ["status", "mode", "exchange"]
    search_fields = ["client_order_id", "exchange_order_id", "bot__name", "user__email"]


@admin.register(Fill)
class FillAdmin(_ReadOnly):
    list_display = ["trade_id", "bot", "exchange", "symbol", "side", "qty", "price", "executed_at"]
    list_filter = ["mode", "exchange", "source"]
    search_fields = ["trade_id", "bot__name", "user__email"]


@admin.register(Signal)
class SignalAdmin(_ReadOnly):
    list_display = ["at", "bot", "symbol", "kind"]
    list_filter = ["kind"]


@admin.register(UserRiskLimits)
class UserRiskLimitsAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "max_exposure",
        "max_drawdown_fraction",
        "daily_loss_limit",
        "on_breach",
    ]
    search_fields = ["user__email"]
    readonly_fields = ["peak_equity", "day_start_equity", "risk_day"]


@admin.register(KillSwitch)
class KillSwitchAdmin(admin.ModelAdmin):
    """Adding a kill switch engages it (no user: everyone); release it with the action."""

    list_display = ["__str__", "reason", "engaged_at", "bots_stopped", "orders_cancelled"]
    list_filter = ["released_at"]
    fields = ["user", "reason"]
    actions = ["release"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "reason"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        from trading.services.risk import kill_switch_engage

        if change:
            return
        switch = kill_switch_engage(user=obj.user, reason=obj.reason, actor=request.user)
        obj.pk = switch.pk
        obj.bots_stopped, obj.orders_cancelled = switch.bots_stopped, switch.orders_cancelled
        self.message_user(
            request,
            f"Kill switch engaged: {switch.bots_stopped} bot(s) stopped, "
            f"{switch.orders_cancelled} order(s) cancelled.",
            messages.WARNING,
        )

    @admin.action(description="Release selected kill switches (bots may start again)")
    def release(self, request, queryset):
        from trading.services.risk import kill_switch_release

        for switch in queryset:
            kill_switch_release(switch=switch, actor=request.user)
        self.message_user(request, f"Released {queryset.count()} kill switch(es).")


@admin.register(RealizedCost)
class RealizedCostAdmin(_ReadOnly):
    """Realized fee and slippage per market from every user's live fills (k users or more).

    Aggregates only: a row names no user, bot or order, and markets with fewer than
    FEE_INTELLIGENCE_MIN_USERS users are not shown (nor stored).
    """

    list_display = [
        "exchange",
        "symbol",
        "liquidity_label",
        "users",
        "fee_rate_bp",
        "slippage",
        "fills",
        "notional_quote",
        "window",
        "computed_at",
    ]
    search_fields = ["exchange", "symbol"]

    def get_queryset(self, request):
        from trading.realized_costs import min_users

        return super().get_queryset(request).filter(users__gte=min_users())

    @admin.display(description="liquidity", ordering="liquidity")
    def liquidity_label(self, obj: RealizedCost) -> str:
        return obj.liquidity or "unknown"

    @admin.display(description="notional (quote)", ordering="notional")
    def notional_quote(self, obj: RealizedCost) -> str:
        from portfolio.templatetags.money import money

        return money(obj.notional)

    @admin.display(description="window")
    def window(self, obj: RealizedCost) -> str:
        return f"{(obj.window_end - obj.window_start).days} days"

    @admin.display(description="fee (bp)", ordering="fee_rate")
    def fee_rate_bp(self, obj: RealizedCost) -> str:
        return "—" if obj.fee_rate is None else f"{obj.fee_bp:.2f}"

    @admin.display(description="slippage (bp)", ordering="slippage_bp")
    def slippage(self, obj: RealizedCost) -> str:
        return "—" if obj.slippage_bp is None else f"{obj.slippage_bp:.2f}"
