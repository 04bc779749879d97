"""Notification channel forms: input checks only; the service validates and stores."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from notifications.models import NotificationChannel, NotificationEvent

_TARGET_HELP = (
    "Email: an address verified on your account, or mailtos://user:password@smtp.host. "
    "Telegram: tgram://bottoken/ChatID. Discord and Slack: the webhook URL. Webhook: an "
    "https:// URL (JSON POST) or an apprise json://, form:// or xml:// URL. Stored encrypted "
    "and never shown again."
)
_DEFAULT_EVENTS = [
    NotificationEvent.BOT_STARTED,
    NotificationEvent.BOT_STOPPED,
    NotificationEvent.BOT_ERROR,
    NotificationEvent.RISK_BREACH,
    NotificationEvent.KILL_SWITCH,
    NotificationEvent.DAILY_SUMMARY,
]


def _target_input() -> forms.PasswordInput:
    return forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False)


class _ChannelFields(forms.Form):
    label = forms.CharField(max_length=100, label="Label")
    events = forms.MultipleChoiceField(
        choices=NotificationEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Send me",
        initial=_DEFAULT_EVENTS,
    )
    arbitrage_min_spread_pct = forms.DecimalField(
        min_value=Decimal(0),
        max_value=Decimal(1000),
        decimal_places=4,
        initial=Decimal("0.5"),
        required=False,
        label="Arbitrage opportunities from a spread of (%)",
    )


class NotificationChannelCreateForm(_ChannelFields):
    kind = forms.ChoiceField(choices=NotificationChannel.Kind.choices, label="Kind")
    target = forms.CharField(
        max_length=2000, label="Destination", widget=_target_input(), help_text=_TARGET_HELP
    )
    field_order = ["kind", "label", "target", "events", "arbitrage_min_spread_pct"]


class NotificationChannelUpdateForm(_ChannelFields):
    target = forms.CharField(
        max_length=2000,
        label="New destination (leave empty to keep the current one)",
        widget=_target_input(),
        required=False,
        help_text=_TARGET_HELP,
    )
    field_order = ["label", "target", "events", "arbitrage_min_spread_pct"]
