"""DRF serializers of API.md's members resources (natural keys: person ``id_number``, region ``code``)."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from yibao_site.api_base import CachedFieldsMixin, FastRepresentationMixin, MoneyField
from yibao_site.models import Region
from yibao_site.scoping import scope_queryset

from .models import (
    Enrollment, EmployeeStatus, EnrollmentVia, Identity, IdentityKind, IdentitySource, OffsiteKind,
    OffsiteRegistration, Person, Relation, Relative, Scheme, SubsidyBatch, SubsidyLine,
)
from yibao_site.idnumbers import id_display_for, id_whole, normalise_id_number, parse_id_number, validate_region_prefix

from .selectors import subsidy_batch_totals


class MaskedIdMixin:
    """Mask resident IDs in list responses for roles that do not need them whole.

    Whether to mask is decided once per serializer instance — for a list, once per page: its
    context (the request's user, the view's action) is the same for every row — not per row."""

    id_fields: tuple[str, ...] = ()

    def _id_mask(self):
        """The masking function for this serializer's rows, or ``None`` when IDs show whole (a
        detail, no request, a role that works with whole IDs)."""
        try:
            return self.__dict__["_id_mask_cache"]
        except KeyError:
            pass
        request = self.context.get("request")
        view = self.context.get("view")
        mask = None
        if request is not None and getattr(view, "action", None) == "list":
            show = id_display_for(request.user)
            mask = None if show is id_whole else show
        self.__dict__["_id_mask_cache"] = mask
        return mask

    def to_representation(self, instance):
        data = super().to_representation(instance)
        mask = self._id_mask()
        if mask is not None:
            for f in self.id_fields:
                if data.get(f):
                    data[f] = mask(data[f])
        return data


@extend_schema_field(OpenApiTypes.STR)
class ScopedPersonField(serializers.SlugRelatedField):
    """A person by ``id_number``, among those the caller may see (others: "does not exist")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "id_number")
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        qs = Person.objects.all()
        return scope_queryset(qs, request.user) if request is not None else qs

    def to_internal_value(self, data):
        return super().to_internal_value(str(data).strip().upper())


class PersonSerializer(MaskedIdMixin, FastRepresentationMixin, CachedFieldsMixin, serializers.ModelSerializer):
    id_fields = ("id_number",)
    id_number = serializers.CharField(max_length=18)
    village = serializers.CharField(source="village.code", max_length=12)
    township = serializers.CharField(source="township.code", read_only=True)
    household_no = serializers.CharField(max_length=30, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True)

    class Meta:
        model = Person
        fields = ["id_number", "name", "village", "phone", "household_no", "sex", "birth_date", "township",
                  "id_outside_county"]
        read_only_fields = ["sex", "birth_date", "township", "id_outside_county"]

    def validate_id_number(self, value):
        value = normalise_id_number(value)
        if self.instance is not None:
            if value != self.instance.id_number:
                raise serializers.ValidationError(_("公民身份号码不能修改。"))
            return value
        try:  # the service checks again; here so that every field error comes back at once
            parse_id_number(value)
            validate_region_prefix(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from None
        return value


class RelativeSerializer(serializers.ModelSerializer):
    relative = ScopedPersonField()
    relation = serializers.ChoiceField(choices=Relation.choices)
    relative_name = serializers.CharField(source="relative.name", read_only=True)

    class Meta:
        model = Relative
        fields = ["id", "relative", "relative_name", "relation"]
        read_only_fields = ["id"]


class EnrollmentSerializer(MaskedIdMixin, serializers.ModelSerializer):
    id_fields = ("person",)
    person = ScopedPersonField()
    year = serializers.IntegerField(min_value=1990, max_value=2100)
    scheme = serializers.ChoiceField(choices=Scheme.choices)
    employee_status = serializers.ChoiceField(choices=EmployeeStatus.choices, required=False, allow_blank=True)
    amount = MoneyField(required=False, allow_null=True, min_value=0)
    contribution_base = MoneyField(required=False, allow_null=True, min_value=0)
    via = serializers.ChoiceField(choices=EnrollmentVia.choices, required=False)
    critical_illness_cap = MoneyField(read_only=True, allow_null=True)
    subsidy_amount = MoneyField(read_only=True)

    class Meta:
        model = Enrollment
        fields = ["id", "person", "year", "scheme", "employee_status", "paid_on", "amount", "contribution_base", "via",
                  "benefit_start", "benefit_end", "waiting_period", "continuous_years", "break_years", "newborn",
                  "critical_illness_cap", "subsidy_amount", "active", "policy_version"]
        read_only_fields = ["id", "benefit_start", "benefit_end", "waiting_period", "continuous_years", "break_years",
                            "newborn", "active", "policy_version"]
        validators = []  # the service checks uniqueness with a clear message


class IdentitySerializer(MaskedIdMixin, serializers.ModelSerializer):
    id_fields = ("person",)
    person = ScopedPersonField()
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    source = serializers.ChoiceField(choices=IdentitySource.choices)
    valid_to = serializers.DateField(required=False, allow_null=True)

    class Meta:
        model = Identity
        fields = ["id", "person", "kind", "valid_from", "valid_to", "source"]
        read_only_fields = ["id"]
        validators = []


class OffsiteRegistrationSerializer(MaskedIdMixin, serializers.ModelSerializer):
    id_fields = ("person",)
    person = ScopedPersonField()
    kind = serializers.ChoiceField(choices=OffsiteKind.choices)

    class Meta:
        model = OffsiteRegistration
        fields = ["id", "person", "kind", "destination", "in_province", "hospital", "valid_from", "valid_to",
                  "revoked_on"]
        read_only_fields = ["id", "revoked_on"]


class SubsidyLineSerializer(serializers.ModelSerializer):
    person = serializers.CharField(source="person.id_number")
    name = serializers.CharField(source="person.name")
    township = serializers.CharField(source="township.code")
    rate = serializers.DecimalField(max_digits=6, decimal_places=4, coerce_to_string=True, allow_null=True)
    premium = MoneyField()
    amount = MoneyField()

    class Meta:
        model = SubsidyLine
        fields = ["person", "name", "township", "kind", "rate", "premium", "amount"]


class SubsidyBatchSerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="code", queryset=Region.objects.all())
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    total_amount = MoneyField(read_only=True)
    confirmed_by = serializers.CharField(source="confirmed_by.username", read_only=True, default=None,
                                         allow_null=True)

    class Meta:
        model = SubsidyBatch
        fields = ["id", "region", "year", "status", "count", "total_amount", "policy_version", "built_at",
                  "confirmed_at", "confirmed_by"]
        read_only_fields = ["id", "status", "count", "policy_version", "built_at", "confirmed_at"]
        validators = []


class SubsidyBatchDetailSerializer(SubsidyBatchSerializer):
    lines = serializers.SerializerMethodField()
    totals = serializers.SerializerMethodField()

    class Meta(SubsidyBatchSerializer.Meta):
        fields = SubsidyBatchSerializer.Meta.fields + ["lines", "totals"]

    @extend_schema_field(SubsidyLineSerializer(many=True))
    def get_lines(self, batch):
        lines = batch.lines.select_related("person", "township").order_by("township__code", "person__id_number")
        data = SubsidyLineSerializer(lines, many=True).data
        request = self.context.get("request")
        if request is not None:
            show = id_display_for(request.user)
            for row in data:
                row["person"] = show(row["person"])
        return data

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_totals(self, batch):
        totals = subsidy_batch_totals(batch)
        for group in totals.values():
            for row in group:
                row["amount"] = f"{row['amount']:.2f}"
        return totals


class MonthSerializer(serializers.Serializer):
    month = serializers.RegexField(r"^\d{4}-(0[1-9]|1[0-2])$", error_messages={"invalid": _("月份格式应为 YYYY-MM。")})


class RelativePremiumSerializer(serializers.Serializer):
    relative = ScopedPersonField()
    year = serializers.IntegerField(min_value=1990, max_value=2100)
    paid_on = serializers.DateField()
