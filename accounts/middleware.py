"""The OTP step gate and session tracking."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse

from accounts.security import client_ip
from accounts.services.sessions import user_session_touch
from accounts.services.two_factor import two_factor_enabled

_SEEN_SESSION_KEY = "peregrine_seen_at"
_SEEN_RESOLUTION_SECONDS = 60


def _always_open(path: str) -> bool:
    return path.startswith(
        (
            settings.STATIC_URL
            if settings.STATIC_URL.startswith("/")
            else "/" + settings.STATIC_URL,
            "/healthz",
            "/accounts/logout/",
        )
    )


class SecondFactorRequiredMiddleware:
    """Hold a password-only session at the OTP step until a code passes.

    A user with 2FA who has not passed the OTP step in this session may only reach the OTP step
    and logout. With PEREGRINE_REQUIRE_2FA, a user without 2FA may only reach 2FA setup.
    API requests get a 403 instead of a redirect. Token-authenticated API calls are not
    session logins and pass through (DRF authenticates them later).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified() and not _always_open(request.path):
            response = self._gate(request, user)
            if response is not None:
                return response
        return self.get_response(request)

    def _gate(self, request, user):
        if two_factor_enabled(user):
            target = reverse("accounts:otp-verify")
        elif settings.PEREGRINE_REQUIRE_2FA:
            target = reverse("accounts:two-factor-setup")
        else:
            return None
        if request.path == target:
            return None
        if request.path.startswith("/api/"):
            return JsonResponse(
                {
                    "error": {
                        "code": "second_factor_required",
                        "fields": {},
                        "message": "Complete two-factor authentication first.",
                    }
                },
                status=403,
            )
        return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")


class SessionTrackingMiddleware:
    """Keep a row per signed-in session (IP, user agent, last seen) for the sessions page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        # only browser logins: an API-token request has a user but no signed-in session
        if (
            user is not None
            and user.is_authenticated
            and session is not None
            and session.get(SESSION_KEY) == str(user.pk)
        ):
            self._touch(request, user, session)
        return response

    @staticmethod
    def _touch(request, user, session) -> None:
        now = time.time()
        if now - float(session.get(_SEEN_SESSION_KEY, 0)) < _SEEN_RESOLUTION_SECONDS:
            return
        if session.session_key is None:
            session.save()
        session[_SEEN_SESSION_KEY] = now
        user_session_touch(
            user=user,
            session_key=session.session_key,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
