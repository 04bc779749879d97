"""Signal webhooks: the alert URL TradingView posts to, and the owner's page to make one."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.security import client_ip
from trading import selectors
from trading.services import webhooks


@csrf_exempt  # the token in the URL is the credential; no session or cookie is read
@require_POST
def webhook_receive(request, token):
    """Take one alert (JSON). 202 when accepted; otherwise the status and the reason."""
    try:
        signal = webhooks.webhook_receive(token=token, body=request.body, ip=client_ip(request))
    except webhooks.WebhookRefused as exc:
        response = JsonResponse({"detail": exc.message}, status=exc.status)
        if exc.retry_after:
            response["Retry-After"] = str(exc.retry_after)
        return response
    return JsonResponse({"id": signal.pk, "status": "accepted"}, status=202)


@login_required
@require_POST
def bot_webhook(request, id):  # noqa: A002
    """Make a new webhook URL for the bot (replacing the old one), or remove it."""
    bot = selectors.bot_get_for_user(user=request.user, id=id)
    context = {"bot": bot}
    if request.POST.get("action") == "delete":
        webhooks.webhook_delete(user=request.user, bot=bot, ip=client_ip(request))
        if not request.htmx:
            return redirect("trading:bot-detail", id=bot.pk)
    else:
        try:
            token = webhooks.webhook_create(user=request.user, bot=bot, ip=client_ip(request))
        except ValidationError as exc:
            context["error"] = " ".join(exc.messages)
        else:
            path = reverse("trading:webhook-receive", kwargs={"token": token})
            context["webhook_url"] = request.build_absolute_uri(path)
    bot.refresh_from_db()
    template = "trading/_bot_webhook.html" if request.htmx else "trading/bot_webhook.html"
    return render(request, template, context)
