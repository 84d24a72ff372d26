"""DRF serializers of the ``claims/`` resource (API.md) and the fund report."""
from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from members.models import Person, Scheme
from members.public import MaskedIdMixin, ScopedPersonField
from yibao_site.api_base import CachedFieldsMixin, FastRepresentationMixin, MoneyField
from yibao_site.models import Region

from .models import Claim, Fund, FundEntry, FundEntryKind, VisitType


class _PersonWithTownship(ScopedPersonField):
    """The person with its township in the same query (settlement reads the township's policy)."""

    def get_queryset(self):
        return super().get_queryset().select_related("township")


class ClaimSerializer(MaskedIdMixin, FastRepresentationMixin, CachedFieldsMixin, serializers.ModelSerializer):
    """A claim: the input fields of API.md plus every tier's amount (read-only)."""

    id_fields = ("person",)

    person = _PersonWithTownship(queryset=Person.objects.all())
    visit_type = serializers.ChoiceField(choices=VisitType.choices)
    hospital_level = serializers.ChoiceField(choices=[(1, "1"), (2, "2"), (3, "3")])
    total_cost = MoneyField(min_value=0)
    policy_scope_cost = MoneyField(min_value=0)
    in_province = serializers.BooleanField(required=False, default=True)
    referred = serializers.BooleanField(required=False, default=False)
    in_region = serializers.BooleanField(
        required=False, default=True,
        help_text=_("在本市(统筹区)内就医,默认是;统筹区外就医未转诊且无有效异地就医备案的,不予医疗救助"))
    admission_date = serializers.DateField(required=False, allow_null=True)
    basic_paid = MoneyField(min_value=0, required=False, allow_null=True,
                            help_text=_("医院平台已结算的基本医保支付;不填则由经办系统计算"))
    critical_paid = MoneyField(min_value=0, required=False, allow_null=True,
                               help_text=_("医院平台已结算的大病保险支付;不填则由经办系统计算"))
    external_ref = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=64)
    disease = serializers.CharField(required=False, allow_blank=True, default="", max_length=20,
                                    help_text=_("门诊慢特病病种编码(目录 code)"))
    diagnosis = serializers.CharField(required=False, allow_blank=True, default="", max_length=16,
                                      help_text=_("诊断编码(ICD-10)"))
    assistance_paid = MoneyField(read_only=True)
    second_round_paid = MoneyField(read_only=True)
    out_of_pocket = MoneyField(read_only=True)
    reversal_of = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    # The column may be "" (blank=True); read_only_fields would drop allow_blank from the schema.
    scheme = serializers.ChoiceField(choices=Scheme.choices, read_only=True, allow_blank=True)

    class Meta:
        model = Claim
        fields = ["id", "person", "visit_type", "hospital_level", "service_date", "admission_date", "total_cost",
                  "policy_scope_cost", "in_province", "referred", "in_region", "basic_paid", "critical_paid", "assistance_paid",
                  "second_round_paid", "out_of_pocket", "policy_version", "year", "scheme", "status", "source",
                  "external_ref", "platform_settled", "assistance_category", "explanation", "breakdown",
                  "reversal_of", "settled_at", "disease", "diagnosis", "chronic_review"]
        read_only_fields = ["id", "policy_version", "year", "scheme", "status", "source", "platform_settled",
                            "chronic_review",
                            "assistance_category", "explanation", "breakdown", "reversal_of", "settled_at"]

    def validate_service_date(self, value):
        if value > timezone.localdate():
            raise serializers.ValidationError(_("就诊日期不能晚于今天。"))
        return value

    def validate(self, attrs):
        if attrs.get("policy_scope_cost") is not None and attrs.get("total_cost") is not None \
                and attrs["policy_scope_cost"] > attrs["total_cost"]:
            raise serializers.ValidationError({"policy_scope_cost": [_("政策范围内费用不能超过医疗总费用。")]})
        return attrs


class ClaimListSerializer(ClaimSerializer):
    """Lists leave out the long breakdown (open one claim for it)."""

    class Meta(ClaimSerializer.Meta):
        fields = [f for f in ClaimSerializer.Meta.fields if f != "breakdown"]


class ReverseSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")


class FundEntrySerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="code", queryset=Region.objects.all())
    fund = serializers.ChoiceField(choices=Fund.choices)
    kind = serializers.ChoiceField(choices=FundEntryKind.choices)
    month = serializers.RegexField(r"^\d{4}-(0[1-9]|1[0-2])$", help_text="YYYY-MM")
    amount = MoneyField(min_value=0)

    class Meta:
        model = FundEntry
        fields = ["id", "fund", "region", "month", "kind", "amount", "note", "created_at"]
        read_only_fields = ["id", "created_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["month"] = instance.month.strftime("%Y-%m")
        return data


class FundReportQuery(serializers.Serializer):
    year = serializers.IntegerField(min_value=1990, max_value=2100)
    region = serializers.CharField(required=False, allow_blank=True)



class LedgerEntrySerializer(serializers.Serializer):
    """One entry of a person-year: a claim's settlement (or its reversal), a one-time payment
    or an adjustment (API.md ``ledgers/``)."""

    kind = serializers.ChoiceField(choices=[("claim", "claim"), ("reversal", "reversal"), ("payout", "payout"),
                                            ("adjustment", "adjustment")])
    claim = serializers.IntegerField(allow_null=True)
    basic = MoneyField()
    critical = MoneyField()
    assistance = MoneyField()
    second_round = MoneyField()
    out_of_pocket = MoneyField()
    reason = serializers.CharField()
    cash_status = serializers.CharField(allow_blank=True)
    application = serializers.IntegerField(allow_null=True)
    at = serializers.DateTimeField()


class LedgerSerializer(serializers.Serializer):
    """A person-year ledger (个人年度台账): the year's totals per tier and its entries."""

    person = serializers.CharField(source="person.id_number")
    year = serializers.IntegerField()
    basic_paid = MoneyField()
    critical_paid = MoneyField()
    assistance_paid = MoneyField()
    second_round_paid = MoneyField()
    out_of_pocket = MoneyField()
    claims_count = serializers.IntegerField()
    entries = LedgerEntrySerializer(many=True)


class ResettleSerializer(serializers.Serializer):
    person = serializers.CharField(max_length=18)
    year = serializers.IntegerField(min_value=1990, max_value=2100)
    confirm = serializers.BooleanField(default=False)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ResettleResultSerializer(serializers.Serializer):
    person = serializers.CharField()
    year = serializers.IntegerField()
    confirmed = serializers.BooleanField()
    adjustments = LedgerEntrySerializer(many=True)
    totals = serializers.DictField(child=MoneyField())
