"""Serializers of assistance payout batches (money as two-place strings, persons by ID number)."""
from __future__ import annotations

from rest_framework import serializers

from yibao_site.api_base import MoneyField
from yibao_site.models import Region, RegionLevel

from ..models import PayoutBatch, PayoutLine


class PayoutLineSerializer(serializers.ModelSerializer):
    person = serializers.CharField(source="person.id_number", read_only=True)
    name = serializers.CharField(source="person.name", read_only=True)
    amount = MoneyField(read_only=True)
    instruction = serializers.CharField(source="instruction.number", read_only=True, allow_null=True, default=None)

    class Meta:
        model = PayoutLine
        fields = ["person", "name", "entry", "amount", "state", "instruction", "hold_reason"]
        read_only_fields = fields


class PayoutBatchSerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Region.objects.filter(level__in=[RegionLevel.CITY, RegionLevel.COUNTY, RegionLevel.TOWNSHIP]))
    total_amount = MoneyField(read_only=True)
    held_amount = MoneyField(read_only=True)
    instruction_batch = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    bank_status = serializers.CharField(source="instruction_batch.status", read_only=True, allow_null=True,
                                        default=None)
    signoff_required = serializers.BooleanField(source="instruction_batch.signoff_required", read_only=True,
                                                allow_null=True, default=None)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PayoutBatch
        fields = ["id", "region", "on", "instruction_batch", "bank_status", "signoff_required", "count",
                  "total_amount", "held_count", "held_amount", "created_by", "created_at"]
        read_only_fields = ["id", "instruction_batch", "bank_status", "signoff_required", "count", "total_amount",
                            "held_count", "held_amount", "created_by", "created_at"]


class PayoutBatchDetailSerializer(PayoutBatchSerializer):
    lines = PayoutLineSerializer(many=True, read_only=True)

    class Meta(PayoutBatchSerializer.Meta):
        fields = PayoutBatchSerializer.Meta.fields + ["lines"]


class QueueQuerySerializer(serializers.Serializer):
    region = serializers.SlugRelatedField(slug_field="code", queryset=Region.objects.all())


class QueueRowSerializer(serializers.Serializer):
    person = serializers.CharField()
    name = serializers.CharField()
    township = serializers.CharField()
    entries = serializers.IntegerField()
    amount = MoneyField()
    kinds = serializers.ListField(child=serializers.CharField())
    payee_kind = serializers.CharField()
    account_number = serializers.CharField()
    problem = serializers.CharField(help_text="空:下一批次将代发;否则为暂缓原因")
