"""The Notifications page's Telegram control: link a chat with a one-time code, unlink it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.security import client_ip, require_recent_auth
from notifications import telegram
from notifications.models import TelegramLink


def telegram_context(user) -> dict:
    return {
        "telegram_configured": bool(settings.PEREGRINE_TELEGRAM_BOT_TOKEN),
        "telegram_bot_name": settings.PEREGRINE_TELEGRAM_BOT_NAME,
        "telegram_links": list(TelegramLink.objects.filter(user=user)),
    }


def _render(request, **extra):
    context = {**telegram_context(request.user), **extra}
    if request.htmx:
        return render(request, "notifications/_telegram.html", context)
    return render(request, "notifications/telegram_link.html", context)


@never_cache
@require_recent_auth  # like a new API token: control of your bots from somewhere new
@require_POST
def telegram_link_create(request):
    """A one-time code to send as /link CODE to Peregrine's Telegram bot."""
    try:
        code = telegram.link_code_create(user=request.user, scope=request.POST.get("scope", ""))
    except ValidationError as exc:
        return _render(request, telegram_error=" ".join(exc.messages))
    return _render(request, telegram_code=code, telegram_ttl=telegram.LINK_TTL_SECONDS // 60)


@login_required
@require_POST
def telegram_unlink(request, id):  # noqa: A002
    telegram.link_delete(user=request.user, link_id=id, ip=client_ip(request))
    if request.htmx:
        return _render(request)
    return redirect("notifications:channel-list")
