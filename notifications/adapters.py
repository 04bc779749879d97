"""Channel adapters: check a destination when it is saved, deliver one message to it.

One adapter per kind, looked up in ADAPTERS. Every outbound call of this app goes through
`deliver()` here: apprise for URLs, the platform's own mail server for a plain address. A failed
delivery says whether it is permanent (the channel is disabled and the owner told why) or
transient (retried with backoff).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email

_HTTP_CODE = re.compile(r"error=(\d{3})\b")
# Answers worth another try: timeouts, throttling, server-side trouble.
_TRANSIENT_CODES = {408, 425, 429}


@dataclass(frozen=True)
class Destination:
    """A checked destination: the value to seal, and a hint that is safe to show."""

    target: str
    hint: str


@dataclass(frozen=True)
class Outcome:
    ok: bool
    permanent: bool = False
    error: str = ""


class DeliveryError(Exception):
    """A destination that cannot be used; `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def _asset() -> apprise.AppriseAsset:
    # persistent storage off: workers keep no per-service state on disk
    return apprise.AppriseAsset(storage_mode="memory")


def _plugin(url: str):
    return apprise.Apprise.instantiate(url, asset=_asset())


def _host_allowed(host: str | None) -> bool:
    """True unless the host resolves to a private, loopback, link-local or reserved address."""
    if settings.PEREGRINE_NOTIFY_ALLOW_PRIVATE_HOSTS:
        return True
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            return False
    return True


def _check_host(plugin) -> None:
    host = getattr(plugin, "smtp_host", None) or getattr(plugin, "host", None)
    if not _host_allowed(host):
        raise DeliveryError(
            f"The address {host or '?'} is not reachable from Peregrine (private or local "
            "network).",
            permanent=True,
        )


class AppriseAdapter:
    """A channel kind spoken through apprise; `services` names the plugin protocols it accepts."""

    def __init__(self, *, services: tuple[str, ...], example: str, check_host: bool) -> None:
        self.services = services
        self.example = example
        self.check_host = check_host

    def normalize(self, value: str) -> str:
        return value

    def validate(self, value: str, *, user) -> Destination:
        url = self.normalize(value.strip())
        plugin = _plugin(url) if url else None
        if plugin is None or plugin.secure_protocol not in self.services:
            raise ValidationError({"target": f"Enter a valid URL, e.g. {self.example}"})
        if self.check_host:
            try:
                _check_host(plugin)
            except DeliveryError as exc:
                raise ValidationError({"target": str(exc)}) from None
        return Destination(target=url, hint=self.hint(url, plugin))

    def hint(self, url: str, plugin) -> str:
        # apprise's private form masks tokens and passwords; the query is noise
        return plugin.url(privacy=True).split("?", 1)[0][:120]

    def deliver(self, target: str, *, title: str, body: str, notify_type: str) -> Outcome:
        plugin = _plugin(target)
        if plugin is None:
            return Outcome(False, permanent=True, error="The saved URL is no longer valid.")
        if self.check_host:
            try:
                _check_host(plugin)  # again at delivery: DNS may have changed since it was saved
            except DeliveryError as exc:
                return Outcome(False, permanent=True, error=str(exc))
        sender = apprise.Apprise(asset=_asset())
        sender.add(plugin)
        with sender.notify(
            body=body,
            title=title,
            notify_type=notify_type,
            timeout=settings.PEREGRINE_NOTIFY_TIMEOUT_SECONDS,
        ) as result:
            if result:
                return Outcome(True)
            return _classify(result)


class WebhookAdapter(AppriseAdapter):
    """A generic webhook: apprise json/form/xml URLs, or a plain http(s) URL (JSON POST)."""

    def normalize(self, value: str) -> str:
        for plain, scheme in (("https://", "jsons://"), ("http://", "json://")):
            if value.lower().startswith(plain):
                return scheme + value[len(plain) :]
        return value

    def hint(self, url: str, plugin) -> str:
        # paths and queries of webhooks often carry tokens: show where it goes, not how
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}/…"


class EmailAdapter(AppriseAdapter):
    """Email: a verified address of the account (sent by Peregrine's mail server), or mailto://."""

    def validate(self, value: str, *, user) -> Destination:
        value = value.strip()
        if "://" in value:
            return super().validate(value, user=user)
        try:
            validate_email(value)
        except ValidationError:
            raise ValidationError(
                {"target": "Enter an email address or a mailto:// URL."}
            ) from None
        from allauth.account.models import EmailAddress

        if not EmailAddress.objects.filter(
            user_id=user.pk, email__iexact=value, verified=True
        ).exists():
            raise ValidationError(
                {"target": "Use an address verified on your account, or a mailto:// URL."}
            )
        return Destination(target=value.lower(), hint=value.lower())

    def deliver(self, target: str, *, title: str, body: str, notify_type: str) -> Outcome:
        if "://" in target:
            return super().deliver(target, title=title, body=body, notify_type=notify_type)
        try:
            send_mail(f"[Peregrine] {title}", body, settings.DEFAULT_FROM_EMAIL, [target])
        except OSError as exc:  # SMTP and socket errors: the mail server may come back
            return Outcome(False, error=f"The mail server did not accept the message ({exc}).")
        return Outcome(True)


def _classify(result) -> Outcome:
    """Turn a failed apprise result into permanent (4xx, refused) or transient (anything else)."""
    if result.status == apprise.AppriseResultStatus.TIMEOUT:
        return Outcome(False, error="The service did not answer in time.")
    messages = [entry.message for entry in result.logs()]
    codes = [int(code) for text in messages for code in _HTTP_CODE.findall(text)]
    if codes:
        code = codes[-1]
        if 400 <= code < 500 and code not in _TRANSIENT_CODES:
            return Outcome(
                False,
                permanent=True,
                error=f"The service refused the message with HTTP {code}; check the URL or "
                "token, then enable the channel again.",
            )
        return Outcome(False, error=f"The service answered HTTP {code}.")
    return Outcome(False, error="The service could not be reached.")


ADAPTERS: dict[str, AppriseAdapter] = {
    "email": EmailAdapter(
        services=("mailtos",), example="mailtos://user:password@smtp.example.com", check_host=True
    ),
    "telegram": AppriseAdapter(
        services=("tgram",), example="tgram://bottoken/ChatID", check_host=False
    ),
    "discord": AppriseAdapter(
        services=("discord",),
        example="https://discord.com/api/webhooks/<id>/<token>",
        check_host=False,
    ),
    "slack": AppriseAdapter(
        services=("slack",), example="https://hooks.slack.com/services/T…/B…/…", check_host=False
    ),
    "webhook": WebhookAdapter(
        services=("jsons", "forms", "xmls"),
        example="https://example.com/hooks/peregrine or form://host/path",
        check_host=True,
    ),
}


def adapter_for(kind: str) -> AppriseAdapter:
    return ADAPTERS[kind]


NOTIFY_TYPES = {
    "bot_error": apprise.NotifyType.FAILURE,
    "risk_breach": apprise.NotifyType.WARNING,
    "kill_switch": apprise.NotifyType.FAILURE,
    "fill": apprise.NotifyType.SUCCESS,
}


def deliver(*, kind: str, target: str, event: str, title: str, body: str) -> Outcome:
    """Send one message to one destination; never raises for a delivery problem."""
    notify_type = NOTIFY_TYPES.get(event, apprise.NotifyType.INFO)
    try:
        return adapter_for(kind).deliver(target, title=title, body=body, notify_type=notify_type)
    except Exception as exc:  # a plugin bug must not kill the worker: retry, then give up
        return Outcome(False, error=f"Delivery failed unexpectedly ({type(exc).__name__}).")
