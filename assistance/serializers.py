"""Serializers of the assistance API (API.md ``assistance/applications/``)."""
from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.models import Person
from yibao_site.api_base import MoneyField
from yibao_site.scoping import scope_queryset

from .models import (
    Application, ApplicationEvent, ApplicationKind, DeterminationBasis, Holiday, Material, MaterialType, Payout,
    SupplementNotice,
)


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ApplicationEvent
        fields = ["action", "from_status", "to_status", "actor", "at", "reason", "data"]


class MaterialSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Material
        fields = ["id", "material_type", "original_name", "content_type", "size", "uploaded_at", "url"]

    def get_url(self, obj) -> str:
        return reverse("agent:material", args=[obj.pk])


class NoticeSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    issued_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = SupplementNotice
        fields = ["number", "missing", "reason", "issued_by", "issued_at", "resolved_at", "url"]

    def get_url(self, obj) -> str:
        return reverse("agent:notice", args=[obj.number])


class PersonField(serializers.SlugRelatedField):
    """A person by ID number, among the persons the caller may see (others do not exist)."""

    def get_queryset(self):
        request = self.context.get("request")
        return scope_queryset(Person.objects.select_related("township", "village"),
                              request.user if request else None)


class ApplicationSerializer(serializers.ModelSerializer):
    person = PersonField(slug_field="id_number", queryset=Person.objects.none())
    person_name = serializers.CharField(source="person.name", read_only=True)
    township = serializers.SlugRelatedField(slug_field="code", read_only=True)
    category = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=4)
    basis = serializers.ChoiceField(choices=DeterminationBasis.choices, required=False, allow_blank=True)
    filed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    verified_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    means_oop = MoneyField(read_only=True, allow_null=True)  # null until the means test ran
    means_threshold = MoneyField(read_only=True, allow_null=True)
    amount = MoneyField(read_only=True, allow_null=True)
    materials = MaterialSerializer(many=True, read_only=True)
    notices = NoticeSerializer(many=True, read_only=True)
    history = EventSerializer(source="events", many=True, read_only=True)
    paid = serializers.SerializerMethodField()

    class Meta:
        model = Application
        fields = [
            "id", "person", "person_name", "township", "kind", "basis", "category", "note", "status", "channel",
            "filed_by", "filed_at", "owner", "applied_on", "submitted_at", "deadline", "overdue",
            "verified_by", "verified_at", "verification_note", "property_check_passed", "property_check_note",
            "property_evidence", "decided_by", "decided_at", "decision_reason",
            "means_oop", "means_threshold", "means_passed", "means_window_from", "means_window_to",
            "determined_on", "amount", "calculation", "valid_from", "valid_to", "policy_version",
            "materials", "notices", "history", "paid",
        ]
        read_only_fields = [f for f in fields if f not in ("person", "kind", "basis", "category", "note")]

    def get_paid(self, obj) -> bool:
        return hasattr(obj, "payout")


class VerifySerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    property_check_passed = serializers.BooleanField(required=False, allow_null=True, default=None)
    property_evidence = serializers.IntegerField(required=False, allow_null=True, default=None)
    property_note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class MissingItemSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=MaterialType.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class ReturnSerializer(serializers.Serializer):
    missing = MissingItemSerializer(many=True, allow_empty=False,
                                    error_messages={"empty": _("退回补正必须一次性列明全部需补正的材料。")})
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class MaterialUploadSerializer(serializers.Serializer):
    material_type = serializers.ChoiceField(choices=MaterialType.choices)
    file = serializers.FileField()


class PayoutSerializer(serializers.ModelSerializer):
    application = serializers.PrimaryKeyRelatedField(queryset=Application.objects.none())
    amount = MoneyField(read_only=True)
    paid_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    kind = serializers.CharField(source="application.kind", read_only=True)
    person = serializers.CharField(source="application.person.id_number", read_only=True)

    class Meta:
        model = Payout
        fields = ["id", "application", "kind", "person", "amount", "reference", "paid_by", "paid_at"]
        read_only_fields = ["id", "amount", "paid_by", "paid_at"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["application"].queryset = scope_queryset(
                Application.objects.filter(kind__in=[ApplicationKind.RETROACTIVE, ApplicationKind.TILT]),
                request.user)
        return fields


class AssistanceObjectSerializer(serializers.ModelSerializer):
    township = serializers.SlugRelatedField(slug_field="code", read_only=True)
    village = serializers.SlugRelatedField(slug_field="code", read_only=True)
    category = serializers.IntegerField(read_only=True)

    class Meta:
        model = Person
        fields = ["id_number", "name", "township", "village", "category"]


class HolidaySerializer(serializers.ModelSerializer):
    class Meta:
        model = Holiday
        fields = ["id", "date", "name", "is_workday"]
        extra_kwargs = {"date": {"validators": []}}  # saving a known day changes it (holiday_save)
