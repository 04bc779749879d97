from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.reauth import IdentityFields
from notifications.models import DeliveryLog, NotificationChannel, NotificationEvent


class NotificationChannelOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = NotificationChannel
        fields = [
            "id",
            "kind",
            "label",
            "target_hint",
            "events",
            "arbitrage_min_spread_pct",
            "enabled",
            "disabled_reason",
            "last_sent_at",
            "created_at",
        ]


class DeliveryLogOutputSerializer(serializers.ModelSerializer):
    channel = serializers.UUIDField(source="channel_id")

    class Meta:
        model = DeliveryLog
        fields = [
            "id",
            "channel",
            "event",
            "title",
            "status",
            "attempts",
            "error",
            "created_at",
            "sent_at",
        ]


_TARGET_HELP = (
    "Where the messages go. Email: an address verified on your account, or "
    "mailtos://user:password@smtp.host. Telegram: tgram://bottoken/ChatID. Discord and Slack: "
    "the webhook URL. Webhook: an https:// URL (JSON POST) or an apprise json://, form:// or "
    "xml:// URL. Stored encrypted and never returned: answers show `target_hint` only."
)
_THRESHOLD_HELP = "Arbitrage opportunities are sent only from this spread (percent) up."


def _events_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=NotificationEvent.choices),
        max_length=len(NotificationEvent.values),
        help_text="The events this channel is sent (may be empty).",
        **kwargs,
    )


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        # 0 to 1000 with at most 4 decimals, as the field checks it
        "pattern": r"^0*(?:\d{1,3}(?:\.\d{0,4})?|1000(?:\.0{0,4})?|\.\d{1,4})$",
    }
)
class _ThresholdField(serializers.DecimalField):
    """A decimal string, as the schema says (a JSON number is refused, not converted)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError('Give the percentage as a string, e.g. "0.5".')
        return super().to_internal_value(data)


def _threshold_field() -> serializers.DecimalField:
    return _ThresholdField(
        max_digits=8,
        decimal_places=4,
        min_value=Decimal(0),
        max_value=Decimal(1000),
        required=False,
        help_text=_THRESHOLD_HELP,
    )


class NotificationChannelCreateInputSerializer(IdentityFields):
    """A new channel, with the page's re-authentication (password, and a code with 2FA)."""

    kind = serializers.ChoiceField(choices=NotificationChannel.Kind.choices)
    label = serializers.CharField(max_length=100)
    target = serializers.CharField(max_length=2000, write_only=True, help_text=_TARGET_HELP)
    events = _events_field()
    arbitrage_min_spread_pct = _threshold_field()


class NotificationChannelUpdateInputSerializer(serializers.Serializer):
    """What to change; a field left out keeps its value."""

    label = serializers.CharField(max_length=100, required=False)
    events = _events_field(required=False)
    arbitrage_min_spread_pct = _threshold_field()
    enabled = serializers.BooleanField(
        required=False,
        help_text="Switch the channel on or off (on clears the reason it was switched off).",
    )
    target = serializers.CharField(
        max_length=2000,
        required=False,
        write_only=True,
        help_text=f"A new destination (needs the password, and with 2FA a code; it switches "
        f"the channel back on). {_TARGET_HELP}",
    )
    password = serializers.CharField(
        max_length=4096,
        trim_whitespace=False,
        required=False,
        write_only=True,
        help_text="Needed to change the destination: the account's password.",
    )
    code = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="With 2FA, needed to change the destination: a current code.",
    )
