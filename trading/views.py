"""Bot pages: the list and one bot's page with live status, orders, fills, PnL and equity."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from portfolio.valuation import bots_valuation
from trading import selectors
from trading.live import bot_sections_context
from trading.services import bots as bot_services


@login_required
def bot_list(request):
    """The user's bots with status and value, updated live."""
    bots = list(selectors.bot_list(user=request.user))
    values = bots_valuation(bots)
    rows = [(bot, values[bot.pk]) for bot in bots]
    kill_switch = selectors.kill_switch_engaged_for(user=request.user)
    return render(request, "trading/bot_list.html", {"rows": rows, "kill_switch": kill_switch})


@login_required
def bot_detail(request, id):  # noqa: A002
    """One bot: status and controls, PnL, holdings, open orders, fills, events, equity."""
    bot = selectors.bot_get_for_user(user=request.user, id=id)
    context = bot_sections_context(user=request.user, bot=bot)
    return render(request, "trading/bot_detail.html", context)


@login_required
def bot_equity(request, id):  # noqa: A002
    """The equity curve section (the page polls it every minute)."""
    bot = selectors.bot_get_for_user(user=request.user, id=id)
    context = bot_sections_context(user=request.user, bot=bot, sections=("equity",))
    return render(request, "trading/_equity.html", context)


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
