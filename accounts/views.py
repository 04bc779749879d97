"""Account security pages: OTP step, 2FA, identity confirmation, sessions, API tokens."""

from __future__ import annotations

from base64 import b32encode
from datetime import timedelta

import qrcode
import qrcode.image.svg
from allauth.account import views as allauth_views
from allauth.core import ratelimit
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from accounts import selectors
from accounts.forms import ApiTokenForm, CodeForm, ConfirmIdentityForm
from accounts.models import AuthenticatorDevice
from accounts.security import client_ip, has_recent_auth, recent_auth_record, require_recent_auth
from accounts.services import sessions as session_services
from accounts.services import tokens as token_services
from accounts.services import two_factor
from config.logging import register_secret


def _safe_next(request, default: str = "home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _render(request, template: str, partial: str | None, context: dict, status: int = 200):
    """The partial for an HTMX request, else the full page."""
    name = partial if (partial and request.htmx) else template
    return render(request, name, context, status=status)


def _code_error(result) -> str:
    if result.locked_until is not None:
        return "Too many wrong codes. Wait a little before trying again."
    return "That code is not valid (or was already used)."


# --- the OTP step and identity confirmation ---------------------------------------------------


def _elevate_session(request, device) -> None:
    """Mark the session OTP-verified under a fresh session key (no fixation across the step)."""
    old_key = request.session.session_key
    request.session.cycle_key()
    session_services.user_session_forget(session_key=old_key)
    session_services.user_session_touch(
        user=request.user,
        session_key=request.session.session_key,
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    otp_login(request, device)
    recent_auth_record(request)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request):
    """After the password: a user with 2FA proves the second factor before anything else."""
    if request.user.is_verified() or not two_factor.two_factor_enabled(request.user):
        return redirect(_safe_next(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = two_factor.second_factor_verify(
            user=request.user, code=form.cleaned_data["code"], ip=client_ip(request)
        )
        if result.ok:
            _elevate_session(request, result.device)
            return redirect(_safe_next(request))
        form.add_error("code", _code_error(result))
    return render(
        request,
        "accounts/otp_verify.html",
        {"form": form, "next": _safe_next(request, "")},
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def confirm_identity(request):
    """Re-authentication for sensitive actions: the password or a second-factor code."""
    form = ConfirmIdentityForm(request.POST or None)
    has_2fa = two_factor.two_factor_enabled(request.user)
    if request.method == "POST" and form.is_valid():
        if _identity_confirmed(request, form, has_2fa):
            recent_auth_record(request)
            return redirect(_safe_next(request, "accounts:security"))
    return render(
        request,
        "accounts/confirm_identity.html",
        {"form": form, "has_2fa": has_2fa, "next": _safe_next(request, "")},
        status=400 if form.errors else 200,
    )


def _identity_confirmed(request, form, has_2fa: bool) -> bool:
    code = (form.cleaned_data.get("code") or "").strip()
    if code:
        if not has_2fa:
            form.add_error("code", "You have no two-factor device; use your password.")
            return False
        result = two_factor.second_factor_verify(
            user=request.user, code=code, ip=client_ip(request)
        )
        if not result.ok:
            form.add_error("code", _code_error(result))
        return result.ok
    if not ratelimit.consume(request, action="reauthenticate", user=request.user):
        form.add_error("password", "Too many attempts. Wait a minute and try again.")
        return False
    user = authenticate(request, email=request.user.email, password=form.cleaned_data["password"])
    if user is None or user.pk != request.user.pk:
        form.add_error("password", "That password is not right.")
        return False
    return True


# --- security overview and 2FA ------------------------------------------------------------------


@login_required
def security(request):
    """Overview: 2FA state and links to every security setting."""
    context = {
        "has_2fa": two_factor.two_factor_enabled(request.user),
        "backup_codes_left": two_factor.backup_codes_remaining(user=request.user),
        "recent_auth": has_recent_auth(request),
    }
    return render(request, "accounts/security.html", context)


def _qr_svg(device: AuthenticatorDevice) -> str:
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Enrol an authenticator app: QR code and manual key, confirmed by the first code."""
    if two_factor.two_factor_enabled(request.user):
        return redirect("accounts:security")
    # a reload keeps the key the user may already have scanned; a stale one is replaced
    fresh_since = timezone.now() - timedelta(minutes=15)
    device = AuthenticatorDevice.objects.filter(
        user=request.user, confirmed=False, created_at__gte=fresh_since
    ).first()
    if device is None:
        device = two_factor.totp_enrolment_start(user=request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.totp_enrolment_confirm(
            user=request.user,
            device=device,
            code=form.cleaned_data["code"],
            ip=client_ip(request),
        )
        if codes is not None:
            _elevate_session(request, device)
            return render(request, "accounts/backup_codes.html", {"codes": codes, "new": True})
        form.add_error("code", "That code does not match. Check the time on your phone.")
    manual_key = b32encode(device.bin_key).decode()
    register_secret(manual_key)
    context = {"form": form, "qr_svg": _qr_svg(device), "manual_key": manual_key}
    return render(
        request, "accounts/two_factor_setup.html", context, status=400 if form.errors else 200
    )


@never_cache
@require_recent_auth
@require_POST
def backup_codes_regenerate(request):
    """Ten new backup codes, shown once."""
    if not two_factor.two_factor_enabled(request.user):
        raise Http404("Two-factor authentication is off.")
    codes = two_factor.backup_codes_regenerate(user=request.user, ip=client_ip(request))
    return render(request, "accounts/backup_codes.html", {"codes": codes, "new": False})


@never_cache
@require_recent_auth
@require_http_methods(["GET", "POST"])
def two_factor_disable(request):
    """Turn 2FA off: needs a recent re-auth and a valid code now."""
    if not two_factor.two_factor_enabled(request.user):
        return redirect("accounts:security")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if two_factor.two_factor_disable(
            user=request.user, code=form.cleaned_data["code"], ip=client_ip(request)
        ):
            messages.success(request, "Two-factor authentication is off.")
            return redirect("accounts:security")
        form.add_error("code", "That code is not valid (or was already used).")
    return render(
        request,
        "accounts/two_factor_disable.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


# --- sessions -------------------------------------------------------------------------------


def _sessions_context(request) -> dict:
    return {
        "sessions": selectors.user_session_list(user=request.user),
        "current_key": request.session.session_key,
    }


@login_required
def session_list(request):
    """The user's signed-in sessions; end any other one."""
    return _render(
        request, "accounts/sessions.html", "accounts/_session_list.html", _sessions_context(request)
    )


@login_required
@require_POST
def session_end(request, id):  # noqa: A002
    session = selectors.user_session_get_for_user(user=request.user, id=id)
    if session.session_key == request.session.session_key:
        messages.error(request, "This is your current session: log out instead.")
    else:
        session_services.user_session_end(user=request.user, session=session, ip=client_ip(request))
    if request.htmx:
        return _render(
            request,
            "accounts/sessions.html",
            "accounts/_session_list.html",
            _sessions_context(request),
        )
    return redirect("accounts:sessions")


@login_required
@require_POST
def sessions_end_others(request):
    count = session_services.user_sessions_end_others(
        user=request.user, current_key=request.session.session_key, ip=client_ip(request)
    )
    messages.success(request, f"Ended {count} other session(s).")
    if request.htmx:
        return _render(
            request,
            "accounts/sessions.html",
            "accounts/_session_list.html",
            _sessions_context(request),
        )
    return redirect("accounts:sessions")


# --- API tokens -----------------------------------------------------------------------------


@login_required
def token_list(request):
    """The user's API tokens and the form to create one."""
    context = {"tokens": selectors.api_token_list(user=request.user), "form": ApiTokenForm()}
    return render(request, "accounts/tokens.html", context)


@never_cache
@require_recent_auth
@require_http_methods(["GET", "POST"])
def token_create(request):
    """Create a token (recent re-auth needed); its value is shown on this response only."""
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = token_services.api_token_create(
                user=request.user, ip=client_ip(request), **form.cleaned_data
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return render(request, "accounts/token_created.html", {"token": token, "raw": raw})
    context = {"tokens": selectors.api_token_list(user=request.user), "form": form}
    return render(request, "accounts/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def token_revoke(request, id):  # noqa: A002
    token = selectors.api_token_get_for_user(user=request.user, id=id)
    token_services.api_token_revoke(token=token, ip=client_ip(request))
    if request.htmx:
        return render(request, "accounts/_token_row.html", {"token": token})
    messages.success(request, f"Token '{token.name}' revoked.")
    return redirect("accounts:tokens")


# --- allauth views that need a recent re-auth -------------------------------------------------

password_change = require_recent_auth(allauth_views.password_change)
email_change = require_recent_auth(allauth_views.email)


# --- your data: download it, delete the account ---------------------------------------------


@login_required
def data_overview(request):
    """What an archive of the user's data holds, and the way to delete the account."""
    context = {
        **selectors.account_data_summary(user=request.user),
        "recent_auth": has_recent_auth(request),
    }
    return render(request, "accounts/data.html", context)


@never_cache
@require_recent_auth
@require_http_methods(["GET"])
def data_download(request):
    """The user's own data as a zip archive, streamed (recent re-auth needed)."""
    from accounts.data_export import user_data_archive_response
    from compliance.services import audit_record

    audit_record(actor=request.user, action="account.data_download", ip=client_ip(request))
    return user_data_archive_response(user=request.user)


@never_cache
@require_recent_auth
@require_http_methods(["GET", "POST"])
def account_delete(request):
    """Delete the account (recent re-auth and the typed email address needed)."""
    from django.contrib.auth import logout

    from accounts.forms import AccountDeleteForm
    from accounts.services.lifecycle import account_delete as account_delete_service

    form = AccountDeleteForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            account_delete_service(user=request.user, ip=client_ip(request))
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            logout(request)
            messages.success(
                request,
                "Your account was deleted. The security log's entries about it are kept "
                "(the audit trail is append-only).",
            )
            return redirect("home")
    return render(
        request, "accounts/account_delete.html", {"form": form}, status=400 if form.errors else 200
    )
