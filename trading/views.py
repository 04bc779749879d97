"""Bot pages: the list, one bot's page with live status, orders, fills, PnL and equity, and the
forms that create and edit a bot through the same services as the API."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.security import has_recent_auth
from config.readcache import user_cached
from exchanges.selectors import exchange_account_list
from portfolio.valuation import bots_valuation
from strategies.selectors import strategy_catalog, strategy_get
from trading import forms, selectors
from trading.live import bot_sections_context
from trading.models import BUDGET_HELP, Bot
from trading.services import bots as bot_services

DEFAULT_STRATEGY = "pure_market_making"
# Where each error of the bot services is shown when it is not a parameter, venue or limit.
FORM_FIELDS = (
    "name", "strategy", "symbols", "budget", "start_inventory", "mode", "confirm_live",
    "on_breach", "timer_ms",
)  # fmt: skip


@login_required
def bot_list(request):
    """The user's bots with status and value, updated live."""
    user = request.user

    def compute():
        bots = list(selectors.bot_list(user=user))
        values = bots_valuation(bots)
        rows = [(bot, values[bot.pk]) for bot in bots]
        # the rows rendered with their data (they depend on nothing else), kept with it
        rows_html = "".join(
            render_to_string("trading/_bot_row.html", {"bot": bot, "value": value})
            for bot, value in rows
        )
        safe_html = mark_safe(rows_html)  # noqa: S308  (rendered templates, escaped by them)
        return rows, safe_html, selectors.kill_switch_engaged_for(user=user)

    rows, rows_html, kill_switch = user_cached(user.pk, "bot-list-rows", compute)
    context = {"rows": rows, "rows_html": rows_html, "kill_switch": kill_switch}
    return render(request, "trading/bot_list.html", context)


@login_required
def bot_detail(request, id):  # noqa: A002
    """One bot: status and controls, PnL, holdings, open orders, fills, events, equity."""
    bot = selectors.bot_get_for_user(user=request.user, id=id)
    context = bot_sections_context(user=request.user, bot=bot)
    context["trades"] = selectors.bot_trade_list(user=request.user, bot=bot)
    return render(request, "trading/bot_detail.html", context)


@login_required
@require_GET
def bot_chart(request, id):  # noqa: A002
    """The bot's market chart (candles, fills, indicators, signals) and equity as JSON."""
    bot = selectors.bot_get_for_user(user=request.user, id=id)
    payload = selectors.bot_chart_get(user=request.user, bot=bot)
    payload.update(selectors.bot_equity_get(user=request.user, bot=bot))
    return JsonResponse(payload)


@login_required
@require_GET
def bot_trades(request, id):  # noqa: A002
    """The bot's trade history table (the page reloads it when a fill arrives)."""
    bot = selectors.bot_get_for_user(user=request.user, id=id)
    trades = selectors.bot_trade_list(user=request.user, bot=bot)
    return render(request, "trading/_bot_trades.html", {"bot": bot, "trades": trades})


def _act(request, bot, action: str) -> str:
    user = request.user
    if action == "start":
        live = bot_services.live_consent_from_request(
            request, confirmed=request.POST.get("confirm_live") == "on"
        )
        bot_services.bot_start(bot=bot, actor=user, live=live)
        return "Starting: the bot reconciles with the exchange, then trades."
    if action == "resume":
        live = bot_services.live_consent_from_request(
            request, confirmed=request.POST.get("confirm_live") == "on"
        )
        bot_services.bot_resume(bot=bot, actor=user, live=live)
        return "Resuming from where the bot paused."
    if action == "pause":
        bot_services.bot_pause(bot=bot, actor=user)
        return "Paused: open orders are cancelled, the strategy keeps its state."
    if action == "stop":
        bot_services.bot_stop(bot=bot, actor=user)
        return "Stopping: the bot cancels its open orders, then stops."
    if action == "kill":
        cancelled = bot_services.bot_kill(bot=bot, reason="Killed by the owner.", actor=user)
        return f"Killed: {cancelled} order(s) cancelled."
    raise Http404("No such action.")


@login_required
@require_POST
def bot_action(request, id, action):  # noqa: A002
    """Start, pause, resume, stop or kill a bot; the page updates from the live events."""
    bot = selectors.bot_get_for_user(user=request.user, id=id)
    try:
        message = _act(request, bot, action)
    except ValidationError as exc:
        for errors in exc.message_dict.values():
            messages.error(request, " ".join(errors))
    else:
        messages.success(request, message)
    if request.htmx:  # the controls in place, the status out of band
        bot = selectors.bot_get_for_user(user=request.user, id=id)
        controls = render_to_string("trading/_bot_controls.html", {"bot": bot}, request=request)
        status = render_to_string(
            "trading/_bot_status.html", {"bot": bot, "oob": True}, request=request
        )
        return HttpResponse(controls + status)
    return redirect("trading:bot-detail", id=bot.pk)


# -- create and edit -----------------------------------------------------------------------
def _params_context(*, entry, state, param_values: dict) -> dict:
    """The strategy's parameter inputs (its venue fields have inputs of their own)."""
    skip = entry.venue_fields if entry is not None else ()
    schema = entry.schema if entry is not None else {}
    return {
        "entry": entry,
        "param_inputs": forms.param_inputs(schema, values=param_values, state=state, skip=skip),
        "params_error": state.error("params", "params.params"),
    }


def _posted_exchanges(values: dict) -> list[str]:
    return [
        value.removeprefix(forms.EXCHANGE)
        for key, value in values.items()
        if key.startswith("venue_") and isinstance(value, str) and value.startswith(forms.EXCHANGE)
    ]


def _strategy_context(*, entry, state, param_values: dict, accounts) -> dict:
    """The strategy-dependent part of the bot form: its venues and its parameters."""
    return {
        **_params_context(entry=entry, state=state, param_values=param_values),
        "venue_slots": forms.venue_slots(entry, values=state.values, state=state),
        "venue_options": forms.venue_options(
            accounts, selectors.paper_exchange_choices(selected=_posted_exchanges(state.values))
        ),
    }


def _save(request, state, save, saved: str):
    """Run `save(live)` (the create or update service) with this request's live-trading consent:
    a redirect to the bot once saved; None, with the field errors on `state`, when refused."""
    confirmed = request.POST.get("confirm_live") == "on"
    live = bot_services.live_consent_from_request(request, confirmed=confirmed)
    try:
        bot = save(live)
    except ValidationError as exc:
        state.errors = forms.errors_from(exc)
        return None
    messages.success(request, saved.format(name=bot.name))
    return redirect("trading:bot-detail", id=bot.pk)


def _form_context(request, *, state, risk_values: dict, **context) -> dict:
    """Everything else of the bot form; errors with no input of their own go on top."""
    context.update(
        values=state.values,
        risk_inputs=forms.risk_inputs(values=risk_values, state=state),
        field_errors={name: state.error(name) for name in FORM_FIELDS},
        modes=Bot.Mode.choices,
        breach_choices=Bot.OnBreach.choices,
        recent_auth=has_recent_auth(request),
        confirm_identity_url=(
            f"{reverse('accounts:confirm-identity')}?{urlencode({'next': request.path})}"
        ),
    )
    context["general_errors"] = state.general_errors
    context["error_summary"] = forms.error_summary(state.errors)
    context["budget_help"] = BUDGET_HELP
    return context


def _render_form(request, context: dict, state) -> HttpResponse:
    status = 400 if state.errors else 200
    return render(request, "trading/bot_form.html", context, status=status)


def _strategy_groups(catalog: dict) -> list[tuple[str, list]]:
    groups: dict[str, list] = {}
    for entry in catalog.values():
        groups.setdefault(entry.family.replace("_", " ").capitalize(), []).append(entry)
    return list(groups.items())


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def bot_create(request):
    """A new draft bot: strategy and parameters, exchanges, markets, mode, budget and limits."""
    catalog = {entry.id: entry for entry in strategy_catalog()}
    accounts = {account.pk: account for account in exchange_account_list(user=request.user)}
    data = request.POST if request.method == "POST" else request.GET
    default = DEFAULT_STRATEGY if DEFAULT_STRATEGY in catalog else next(iter(catalog))
    strategy = data.get("strategy") or default
    entry = catalog.get(strategy)
    state = forms.BotFormState(values=data.dict())
    param_values, risk_values = {}, {}
    if request.method == "POST":
        arguments = forms.bot_create_arguments(
            request.POST, entry=entry, strategy=strategy, accounts=accounts
        )
        done = _save(
            request, state,
            lambda live: bot_services.bot_create(user=request.user, live=live, **arguments),
            "Bot '{name}' created as a draft: start it when ready.",
        )  # fmt: skip
        if done is not None:
            return done
        param_values, risk_values = forms.posted_values(entry, request.POST)
    context = _strategy_context(
        entry=entry,
        state=state,
        param_values=param_values,
        accounts=accounts.values(),
    )
    context.update(creating=True, strategy_groups=_strategy_groups(catalog), strategy=strategy)
    return _render_form(
        request, _form_context(request, state=state, risk_values=risk_values, **context), state
    )


@login_required
@require_GET
def bot_strategy_fields(request):
    """The exchanges and parameters of one strategy (the new-bot form swaps them in)."""
    entry = strategy_get(strategy_id=request.GET.get("strategy", ""))
    state = forms.BotFormState(values=request.GET.dict())
    accounts = exchange_account_list(user=request.user)
    context = _strategy_context(entry=entry, state=state, param_values={}, accounts=accounts)
    return render(request, "trading/_bot_strategy_fields.html", context)


def _bot_values(bot: Bot) -> dict:
    return {
        "name": bot.name,
        "budget": f"{bot.budget.normalize():f}",
        "mode": bot.mode,
        "on_breach": bot.on_breach,
        "timer_ms": bot.timer_ms,
    }


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def bot_update(request, id):  # noqa: A002
    """Edit a bot: everything while it is not running; its name and limits at any time."""
    bot = selectors.bot_get_for_user(user=request.user, id=id)
    entry = next((e for e in strategy_catalog() if e.id == bot.strategy), None)
    if request.method == "POST":
        state = forms.BotFormState(values=request.POST.dict())
        arguments = forms.bot_update_arguments(request.POST, bot=bot, entry=entry)
        done = _save(
            request, state,
            lambda live: bot_services.bot_update(bot=bot, live=live, **arguments),
            "Bot '{name}' saved.",
        )  # fmt: skip
        if done is not None:
            return done
        params, risk_values = forms.posted_values(entry, request.POST)
    else:
        state = forms.BotFormState(values=_bot_values(bot))
        params, risk_values = bot.params, bot.risk_limits
    context = {
        **_params_context(entry=entry, state=state, param_values=params),
        "creating": False,
        "bot": bot,
        "editable": bot.status in bot_services.EDITABLE,
    }
    return _render_form(
        request, _form_context(request, state=state, risk_values=risk_values, **context), state
    )
