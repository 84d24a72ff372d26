from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .models import PolicyParameter, Region, RegionLevel


class RegionSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", queryset=Region.objects.all(),
                                          allow_null=True, required=False)

    class Meta:
        model = Region
        fields = ["code", "name", "level", "parent"]

    def validate(self, attrs):
        level = attrs.get("level", getattr(self.instance, "level", None))
        parent = attrs.get("parent", getattr(self.instance, "parent", None))
        if parent is None and level != RegionLevel.CITY:
            raise serializers.ValidationError({"parent": [_("只有市级区划可以没有上级。")]})
        return attrs


class PolicyParameterSerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="code", queryset=Region.objects.all())

    class Meta:
        model = PolicyParameter
        fields = ["id", "region", "key", "value", "effective_from", "pack", "source", "illustrative", "note"]
        read_only_fields = ["id", "pack"]
        validators = []  # uniqueness is handled by the service (create or change)
        # ``value`` must be sent (null only where the schema allows it: "no cap").
        extra_kwargs = {"value": {"required": True, "allow_null": True}}

    def validate(self, attrs):
        """Check key and value against the declared schema (policy_schema.py)."""
        from django.core.exceptions import ValidationError as DjangoValidationError

        from .policy_schema import clean_value

        try:
            attrs["value"] = clean_value(attrs["key"], attrs.get("value"), region=attrs.get("region"))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs
