"""Serializers of the chronic-disease API (API.md ``chronic-diseases/``, ``chronic-certifications/``)."""
from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.models import Person
from yibao_site.scoping import scope_queryset

from .models import (
    Certification, CertificationEvent, CertificationMaterial, CertificationMaterialType, CertificationNotice,
    ChronicDisease,
)


class ChronicDiseaseSerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = ChronicDisease
        fields = ["id", "region", "code", "name", "icd10", "criteria", "unified_criteria", "separate_drug_payment",
                  "rate_key", "cap_key", "valid_from", "valid_to", "illustrative", "source"]
        read_only_fields = fields


class CertificationEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = CertificationEvent
        fields = ["action", "from_status", "to_status", "actor", "at", "reason", "data"]


class CertificationMaterialSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = CertificationMaterial
        fields = ["id", "material_type", "original_name", "content_type", "size", "uploaded_at", "url"]

    def get_url(self, obj) -> str:
        return reverse("chronic_agent:material", args=[obj.pk])


class CertificationNoticeSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    issued_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CertificationNotice
        fields = ["number", "missing", "reason", "issued_by", "issued_at", "resolved_at", "url"]

    def get_url(self, obj) -> str:
        return reverse("chronic_agent:notice", args=[obj.number])


class PersonField(serializers.SlugRelatedField):
    """A person by ID number, among the persons the caller may see (others do not exist)."""

    def get_queryset(self):
        request = self.context.get("request")
        return scope_queryset(Person.objects.select_related("township", "village"),
                              request.user if request else None)


class CertificationSerializer(serializers.ModelSerializer):
    person = PersonField(slug_field="id_number", queryset=Person.objects.none())
    person_name = serializers.CharField(source="person.name", read_only=True)
    township = serializers.SlugRelatedField(slug_field="code", read_only=True)
    disease = serializers.CharField(max_length=20, help_text=_("病种编码(目录 code)"))
    disease_name = serializers.CharField(source="disease.name", read_only=True)
    filed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    materials = CertificationMaterialSerializer(many=True, read_only=True)
    notices = CertificationNoticeSerializer(many=True, read_only=True)
    history = CertificationEventSerializer(source="events", many=True, read_only=True)

    class Meta:
        model = Certification
        fields = ["id", "person", "person_name", "township", "disease", "disease_name", "diagnosis", "note", "status",
                  "channel", "filed_by", "filed_at", "owner", "submitted_at", "deadline", "overdue", "hospital_code",
                  "hospital_name", "hospital_supports", "hospital_opinion", "opinion_at", "decided_by", "decided_at",
                  "decision_reason", "valid_from", "valid_to", "reviewed_at", "revoked_at", "policy_version",
                  "materials", "notices", "history"]
        read_only_fields = [f for f in fields if f not in ("person", "disease", "diagnosis", "note")]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["disease"] = instance.disease.code
        return data


class CertificationOpinionSerializer(serializers.Serializer):
    hospital = serializers.CharField(max_length=30)
    supports = serializers.BooleanField()
    opinion = serializers.CharField(max_length=2000)


class CertificationReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class CertificationNoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class CertificationMissingItemSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=CertificationMaterialType.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class CertificationReturnSerializer(serializers.Serializer):
    missing = CertificationMissingItemSerializer(many=True, allow_empty=False,
                                    error_messages={"empty": _("退回补正必须一次性列明全部需补正的材料。")})
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class CertificationMaterialUploadSerializer(serializers.Serializer):
    material_type = serializers.ChoiceField(choices=CertificationMaterialType.choices)
    file = serializers.FileField()
