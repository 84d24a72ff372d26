"""Serializers of the double early warning API (API.md ``warning-runs/``, ``warnings/``)."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from members.models import IdentityKind
from yibao_site.api_base import MoneyField
from yibao_site.models import Region
from yibao_site.scoping import user_scope_region

from . import rules
from .models import Department, PersonWarning, WarningDelivery, WarningRun


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2024-03"})
class MonthField(serializers.Field):
    """A month as ``YYYY-MM`` (stored as the month's first day)."""

    default_error_messages = {"invalid": _("月份格式应为 YYYY-MM,如 2024-03。")}

    def to_internal_value(self, data):
        try:
            return rules.parse_month(data)
        except (ValueError, TypeError):
            self.fail("invalid")

    def to_representation(self, value):
        return f"{value:%Y-%m}"


class WarningDeliverySerializer(serializers.ModelSerializer):
    run = serializers.IntegerField(source="run_id", read_only=True)
    month = MonthField(source="run.month", read_only=True)
    region = serializers.CharField(source="run.region.code", read_only=True)

    class Meta:
        model = WarningDelivery
        fields = ["key", "run", "month", "region", "department", "channel", "status", "count", "attempts",
                  "last_status_code", "last_error", "next_attempt_at", "delivered_at", "downloaded_at",
                  "acknowledged_at", "acknowledgement_note", "payload_sha256"]
        read_only_fields = fields


class WarningRunSerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="code", queryset=Region.objects.all())
    month = MonthField()
    deliveries = WarningDeliverySerializer(many=True, read_only=True)

    class Meta:
        model = WarningRun
        fields = ["id", "region", "month", "count", "return_count", "into_count", "new_count", "thresholds",
                  "policy_version", "trigger", "created_at", "deliveries"]
        read_only_fields = ["id", "count", "return_count", "into_count", "new_count", "thresholds",
                            "policy_version", "trigger", "created_at", "deliveries"]
        validators = []  # a second POST of a month returns the existing run (idempotent)

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        scope = user_scope_region(request.user) if request else None
        if scope is not None:  # a county-bound supervisor runs only their county
            fields["region"].queryset = Region.objects.filter(path__startswith=scope.path)
        return fields


class WarningSerializer(serializers.ModelSerializer):
    person = serializers.CharField(source="person.id_number", read_only=True)
    name = serializers.CharField(source="person.name", read_only=True)
    township = serializers.CharField(source="township.code", read_only=True)
    month = MonthField(read_only=True)
    out_of_pocket = MoneyField(read_only=True)
    threshold = MoneyField(read_only=True)
    # "" until the warning is determined (read_only_fields would drop allow_blank).
    determined_department = serializers.ChoiceField(choices=Department.choices, read_only=True, allow_blank=True)

    class Meta:
        model = PersonWarning
        fields = ["id", "run", "person", "name", "township", "kind", "month", "out_of_pocket", "threshold",
                  "is_new", "status", "determined_department", "determined_at", "identity", "determination_note"]
        read_only_fields = fields


class DeterminationSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[("approved", _("认定为医疗救助对象")), ("rejected", _("不予认定"))])
    identity_kind = serializers.ChoiceField(choices=IdentityKind.choices, required=False, allow_blank=True)
    valid_from = serializers.DateField(required=False, allow_null=True)
    valid_to = serializers.DateField(required=False, allow_null=True)
    department = serializers.ChoiceField(choices=Department.choices, required=False,
                                         help_text=_("工作人员代为登记时必填;协作部门账号为本部门。"))
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)

    def validate(self, attrs):
        if attrs["outcome"] == "approved" and not attrs.get("identity_kind"):
            raise serializers.ValidationError({"identity_kind": [_("认定为救助对象时请选择身份类别。")]})
        if attrs.get("valid_from") and attrs.get("valid_to") and attrs["valid_to"] < attrs["valid_from"]:
            raise serializers.ValidationError({"valid_to": [_("有效期止不能早于有效期起。")]})
        return attrs


class AcknowledgementSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)
