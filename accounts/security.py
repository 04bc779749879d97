"""Recent re-authentication: sensitive actions need a password or OTP check within 10 minutes.

Other apps use `require_recent_auth` on views that add, replace or delete exchange keys, enable
live trading, create API tokens, change email or password, or disable 2FA:

    from accounts.security import require_recent_auth

    @require_recent_auth
    def bot_go_live(request, id): ...

`has_recent_auth(request)` answers the same question inside a view (e.g. only when a form
switches an account to live).
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

AUTH_AT_SESSION_KEY = "peregrine_auth_at"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the web server saw it."""
    return request.META.get("REMOTE_ADDR") or None


def recent_auth_record(request: HttpRequest) -> None:
    """Note that the user just proved who they are (login, password or OTP)."""
    request.session[AUTH_AT_SESSION_KEY] = time.time()


def has_recent_auth(request: HttpRequest) -> bool:
    """True if the user authenticated with password or OTP within the re-auth window."""
    if not request.user.is_authenticated:
        return False
    at = request.session.get(AUTH_AT_SESSION_KEY)
    return at is not None and time.time() - float(at) < settings.PEREGRINE_RECENT_AUTH_SECONDS


def recent_auth_redirect(request: HttpRequest, next_url: str | None = None) -> HttpResponse:
    """Send the user to confirm their identity, then back to next_url (or this page)."""
    next_url = next_url or (request.get_full_path() if request.method == "GET" else request.path)
    url = f"{reverse('accounts:confirm-identity')}?{urlencode({'next': next_url})}"
    if getattr(request, "htmx", False):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)


def require_recent_auth(view):
    """View decorator: anonymous users log in; stale sessions confirm identity first."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not has_recent_auth(request):
            return recent_auth_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper


def second_factor_satisfied(user, session) -> bool:
    """Whether a signed-in session has passed the OTP step (when the user needs one).

    For code outside Django's middleware stack (Channels consumers): HTTP requests are already
    gated by accounts.middleware.SecondFactorRequiredMiddleware.
    """
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    from accounts.services.two_factor import two_factor_enabled

    if not getattr(user, "is_authenticated", False):
        return False
    if not two_factor_enabled(user):
        return not settings.PEREGRINE_REQUIRE_2FA
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and device.confirmed
