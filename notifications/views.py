"""Notification channel pages: list with the delivery log, add, edit, switch, test, delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.security import client_ip, has_recent_auth, recent_auth_redirect, require_recent_auth
from notifications import services
from notifications.forms import NotificationChannelCreateForm, NotificationChannelUpdateForm
from notifications.selectors import (
    delivery_log_list,
    notification_channel_get_for_user,
    notification_channel_list,
)


def _apply_errors(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _list_context(request) -> dict:
    from notifications.telegram_views import telegram_context

    return {
        "channels": notification_channel_list(user=request.user),
        "deliveries": delivery_log_list(user=request.user)[:30],
        **telegram_context(request.user),
    }


def _after_change(request):
    if request.htmx:
        return render(request, "notifications/_channels.html", _list_context(request))
    return redirect("notifications:channel-list")


@login_required
def channel_list(request):
    """The user's channels and their recent deliveries."""
    template = "notifications/_channels.html" if request.htmx else "notifications/channel_list.html"
    return render(request, template, _list_context(request))


@never_cache
@require_recent_auth
@require_http_methods(["GET", "POST"])
def channel_create(request):
    """Add a channel (recent re-auth needed: it is a new place your trading data goes)."""
    form = NotificationChannelCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            channel = services.notification_channel_create(
                user=request.user, ip=client_ip(request), **form.cleaned_data
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Channel '{channel.label}' added. Send it a test.")
            return redirect("notifications:channel-list")
    return render(
        request,
        "notifications/channel_form.html",
        {"form": form, "creating": True},
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def channel_update(request, id):  # noqa: A002
    """Edit label, events and threshold; a new destination needs a recent re-auth."""
    channel = notification_channel_get_for_user(user=request.user, id=id)
    form = NotificationChannelUpdateForm(
        request.POST or None,
        initial={
            "label": channel.label,
            "events": channel.events,
            "arbitrage_min_spread_pct": channel.arbitrage_min_spread_pct,
        },
    )
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["target"] and not has_recent_auth(request):
            messages.info(request, "Confirm it is you to change where notifications go.")
            return recent_auth_redirect(request, next_url=request.path)
        try:
            services.notification_channel_update(
                channel=channel, ip=client_ip(request), **form.cleaned_data
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Channel saved.")
            return redirect("notifications:channel-list")
    context = {
        "form": form,
        "channel": channel,
        "deliveries": delivery_log_list(user=request.user, channel=channel)[:30],
    }
    return render(
        request, "notifications/channel_form.html", context, status=400 if form.errors else 200
    )


@login_required
@require_POST
def channel_toggle(request, id):  # noqa: A002
    """Switch a channel on or off."""
    channel = notification_channel_get_for_user(user=request.user, id=id)
    services.notification_channel_set_enabled(channel=channel, enabled=not channel.enabled)
    return _after_change(request)


@login_required
@require_POST
def channel_test(request, id):  # noqa: A002
    """Send a test message to one channel."""
    channel = notification_channel_get_for_user(user=request.user, id=id)
    services.notification_send_test(channel=channel)
    messages.success(request, f"Test message queued for '{channel.label}'.")
    return _after_change(request)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def channel_delete(request, id):  # noqa: A002
    """Delete a channel and its delivery log."""
    channel = notification_channel_get_for_user(user=request.user, id=id)
    if request.method == "POST":
        services.notification_channel_delete(channel=channel, ip=client_ip(request))
        messages.success(request, f"Channel '{channel.label}' deleted.")
        return _after_change(request)
    return render(request, "notifications/channel_delete.html", {"channel": channel})
