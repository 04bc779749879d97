"""Login events: remember when the user proved who they are, track the session, audit."""

from __future__ import annotations

from allauth.account import signals as allauth_signals
from django.conf import settings
from django.contrib.auth import signals as auth_signals
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import totp_seeds
from accounts.models import AuthenticatorDevice
from accounts.security import client_ip, recent_auth_record
from accounts.services.sessions import user_session_forget, user_session_touch
from compliance.services import audit_record


@receiver(auth_signals.user_logged_in)
def on_logged_in(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    recent_auth_record(request)
    if request.session.session_key is None:
        request.session.save()
    user_session_touch(
        user=user,
        session_key=request.session.session_key,
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    audit_record(actor=user, action="login", ip=client_ip(request))


@receiver(auth_signals.user_logged_out)
def on_logged_out(sender, request, user, **kwargs):
    if request is None or user is None:
        return
    user_session_forget(session_key=request.session.session_key)
    audit_record(actor=user, action="logout", ip=client_ip(request))


@receiver(auth_signals.user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    email = str(credentials.get("email") or credentials.get("username") or "")[:254]
    audit_record(
        action="login.failed", ip=client_ip(request) if request else None, after={"email": email}
    )


@receiver(allauth_signals.user_signed_up)
def on_signed_up(sender, request, user, **kwargs):
    audit_record(actor=user, action="signup", ip=client_ip(request))


@receiver(allauth_signals.password_changed)
def on_password_changed(sender, request, user, **kwargs):
    recent_auth_record(request)
    audit_record(actor=user, action="password.change", ip=client_ip(request))


@receiver(allauth_signals.password_reset)
def on_password_reset(sender, request, user, **kwargs):
    audit_record(actor=user, action="password.reset", ip=client_ip(request))


@receiver(allauth_signals.email_changed)
def on_email_changed(sender, request, user, from_email_address, to_email_address, **kwargs):
    audit_record(
        actor=user,
        action="email.change",
        ip=client_ip(request),
        before={"email": getattr(from_email_address, "email", None)},
        after={"email": getattr(to_email_address, "email", None)},
    )


@receiver(allauth_signals.email_confirmed)
def on_email_confirmed(sender, request, email_address, **kwargs):
    audit_record(
        actor=email_address.user,
        action="email.confirm",
        ip=client_ip(request),
        after={"email": email_address.email},
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def on_operator_created(sender, instance, created, **kwargs):
    """An operator created from the command line has a verified address, so allauth lets them in."""
    if created and instance.is_superuser and instance.email:
        from allauth.account.models import EmailAddress

        EmailAddress.objects.get_or_create(
            user=instance, email=instance.email, defaults={"verified": True, "primary": True}
        )


# --- authenticator seeds are sealed whatever saves a device (accounts/totp_seeds.py) ----------
@receiver(pre_save, sender=TOTPDevice)
@receiver(pre_save, sender=AuthenticatorDevice)
def totp_seed_take_out(sender, instance, **kwargs):
    totp_seeds.before_save(instance)


@receiver(post_save, sender=TOTPDevice)
@receiver(post_save, sender=AuthenticatorDevice)
def totp_seed_seal(sender, instance, **kwargs):
    totp_seeds.after_save(instance)
