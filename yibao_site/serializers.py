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

    def validate_value(self, value):
        if isinstance(value, float):
            raise serializers.ValidationError(_("金额和比例请用字符串表示的小数,如 \"0.85\"。"))
        return value
