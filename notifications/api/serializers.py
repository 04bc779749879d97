from rest_framework import serializers

from notifications.models import DeliveryLog, NotificationChannel


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
