"""Exchange account API shapes: never a secret, only the API key's last four characters."""

from rest_framework import serializers

from exchanges.models import ExchangeAccount


class ExchangeAccountOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExchangeAccount
        fields = [
            "id",
            "exchange",
            "label",
            "mode",
            "status",
            "disabled_reason",
            "api_key_last4",
            "has_passphrase",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ExchangeAccountDisableInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)
