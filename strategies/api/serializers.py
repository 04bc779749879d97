"""Strategy catalog and saved configs over the API."""

from rest_framework import serializers

from strategies.models import StrategyConfig


class CatalogEntryOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    family = serializers.CharField()
    description = serializers.CharField()
    schema = serializers.DictField()
    venue_fields = serializers.ListField(child=serializers.CharField())
    symbol_fields = serializers.ListField(child=serializers.CharField())


class StrategyConfigOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = StrategyConfig
        fields = ["id", "name", "strategy", "params", "description", "created_at", "updated_at"]
        read_only_fields = fields


class StrategyConfigInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    strategy = serializers.CharField(max_length=64)
    params = serializers.DictField(required=False, default=dict)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
