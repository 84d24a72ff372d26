"""DRF serializers of API.md's procurement resources (natural keys: supplier, product,
hospital ``code``; region ``code``)."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from yibao_site.api_base import MoneyField
from yibao_site.models import Region, RegionLevel
from yibao_site.scoping import scope_queryset

from .models import (
    AgreedVolume, BatchLevel, Delivery, Hospital, HospitalDeduction, HospitalLevel, Order, PaymentLine, PaymentOrder,
    PaymentRun, ProcurementBatch, Product, ProductKind, Supplier,
)

CODE = {"max_length": 40, "validators": []}


@extend_schema_field(OpenApiTypes.STR)
class ScopedCodeField(serializers.SlugRelatedField):
    """A related object by ``code`` among those the caller may see."""

    def __init__(self, model, **kwargs):
        self.model = model
        kwargs.setdefault("slug_field", "code")
        kwargs.setdefault("error_messages", {"does_not_exist": _("编码 {value} 不存在。"),
                                             "invalid": _("编码无效。")})
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        qs = self.model.objects.all()
        return scope_queryset(qs, request.user) if request is not None else qs

    def to_internal_value(self, data):
        if not isinstance(data, (str, int)) or "\x00" in str(data):
            self.fail("invalid")
        return super().to_internal_value(str(data).strip())


class ProcurementBatchSerializer(serializers.ModelSerializer):
    code = serializers.CharField(**CODE)
    level = serializers.ChoiceField(choices=BatchLevel.choices)

    class Meta:
        model = ProcurementBatch
        fields = ["code", "name", "level", "starts_on", "ends_on"]


class SupplierSerializer(serializers.ModelSerializer):
    code = serializers.CharField(**CODE)

    class Meta:
        model = Supplier
        fields = ["code", "name", "credit_code", "bank_name", "bank_account"]


class ProductSerializer(serializers.ModelSerializer):
    code = serializers.CharField(**CODE)
    kind = serializers.ChoiceField(choices=ProductKind.choices)
    unit_price = MoneyField(min_value=0)
    batch = ScopedCodeField(ProcurementBatch, required=False, allow_null=True)
    supplier = ScopedCodeField(Supplier, required=False, allow_null=True)

    class Meta:
        model = Product
        fields = ["code", "name", "kind", "specification", "unit", "unit_price", "batch", "supplier"]


class HospitalSerializer(serializers.ModelSerializer):
    code = serializers.CharField(**CODE)
    level = serializers.ChoiceField(choices=HospitalLevel.choices)
    township = ScopedCodeField(Region)

    class Meta:
        model = Hospital
        fields = ["code", "name", "level", "township"]

    def validate_township(self, value):
        if value.level != RegionLevel.TOWNSHIP:
            raise serializers.ValidationError(_("所在区划必须是乡镇(街道)。"))
        return value


class AgreedVolumeSerializer(serializers.ModelSerializer):
    hospital = ScopedCodeField(Hospital)
    product = ScopedCodeField(Product)
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    quantity = serializers.IntegerField(min_value=1, max_value=2_000_000_000)

    class Meta:
        model = AgreedVolume
        fields = ["id", "hospital", "product", "year", "quantity"]
        read_only_fields = ["id"]
        validators = []  # the service upserts on (hospital, product, year)


class OrderSerializer(serializers.ModelSerializer):
    hospital = ScopedCodeField(Hospital)
    supplier = ScopedCodeField(Supplier)
    product = ScopedCodeField(Product)
    quantity = serializers.IntegerField(min_value=1, max_value=2_000_000_000)

    class Meta:
        model = Order
        fields = ["id", "hospital", "supplier", "product", "quantity", "ordered_on", "number"]
        read_only_fields = ["id"]


class PaymentRefSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order.number")
    amount = MoneyField()

    class Meta:
        model = PaymentLine
        fields = ["order", "state", "paid_on", "amount", "days_to_pay", "on_time"]


class DeliverySerializer(serializers.ModelSerializer):
    hospital = ScopedCodeField(Hospital)
    supplier = ScopedCodeField(Supplier)
    product = ScopedCodeField(Product)
    order = serializers.PrimaryKeyRelatedField(queryset=Order.objects.all(), required=False, allow_null=True)
    quantity = serializers.IntegerField(min_value=1, max_value=2_000_000_000)
    amount = MoneyField(min_value=0)
    unit_price = MoneyField(read_only=True)
    # null until the delivery is accepted (and reconciled)
    accepted_amount = MoneyField(read_only=True, allow_null=True)
    mismatch = MoneyField(read_only=True, allow_null=True)
    payment = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = ["id", "hospital", "supplier", "product", "order", "quantity", "unit_price", "amount", "invoice_number",
                  "delivered_on", "status", "accepted_on", "accepted_quantity", "accepted_amount", "mismatch", "due_on",
                  "alert", "escalated_on", "paid_on", "payment", "policy_version"]
        read_only_fields = ["id", "status", "accepted_on", "accepted_quantity", "due_on", "alert", "escalated_on",
                            "paid_on", "policy_version"]
        validators = []  # the service checks the invoice's uniqueness and names the field

    def get_order_queryset(self):
        request = self.context.get("request")
        return scope_queryset(Order.objects.all(), request.user) if request else Order.objects.all()

    def get_fields(self):
        fields = super().get_fields()
        fields["order"].queryset = self.get_order_queryset()
        return fields

    def get_payment(self, obj) -> dict | None:
        line = obj.payment_line if obj.status in ("instructed", "paid") else None
        return PaymentRefSerializer(line).data if line else None


class AcceptSerializer(serializers.Serializer):
    accepted_on = serializers.DateField()
    quantity = serializers.IntegerField(min_value=0, max_value=2_000_000_000)


class ReconcileSerializer(serializers.Serializer):
    amount = MoneyField(min_value=0)
    reason = serializers.CharField(max_length=100, required=False, allow_blank=True)


class PaymentRunCreateSerializer(serializers.Serializer):
    as_of = serializers.DateField()


class ReviewSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class PaymentOrderSerializer(serializers.ModelSerializer):
    supplier = serializers.CharField(source="supplier.code")
    as_of = serializers.DateField(source="run.as_of")
    amount = MoneyField()

    class Meta:
        model = PaymentOrder
        fields = ["id", "number", "run", "as_of", "supplier", "count", "amount"]


class PaymentLineSerializer(serializers.ModelSerializer):
    hospital = serializers.CharField(source="hospital.code")
    amount = MoneyField()

    class Meta:
        model = PaymentLine
        fields = ["delivery", "hospital", "amount", "accepted_on", "due_on", "state", "paid_on", "bank_reference",
                  "days_to_pay", "on_time"]


class PaymentOrderDetailSerializer(PaymentOrderSerializer):
    lines = PaymentLineSerializer(many=True, read_only=True)

    class Meta(PaymentOrderSerializer.Meta):
        fields = PaymentOrderSerializer.Meta.fields + ["lines"]


class HospitalDeductionSerializer(serializers.ModelSerializer):
    hospital = serializers.CharField(source="hospital.code")
    amount = MoneyField()

    class Meta:
        model = HospitalDeduction
        fields = ["hospital", "count", "amount"]


class PaymentRunSerializer(serializers.ModelSerializer):
    total_amount = MoneyField()
    reviewed_by = serializers.CharField(source="reviewed_by.username", default=None, read_only=True,
                                        allow_null=True)

    class Meta:
        model = PaymentRun
        fields = ["id", "as_of", "status", "trigger", "count", "total_amount", "due_soon_count", "overdue_count",
                  "held_count", "attempts", "started_at", "finished_at", "reviewed_by", "reviewed_at", "review_note"]


class PaymentRunDetailSerializer(PaymentRunSerializer):
    orders = PaymentOrderSerializer(many=True, read_only=True)
    deductions = HospitalDeductionSerializer(many=True, read_only=True)

    class Meta(PaymentRunSerializer.Meta):
        fields = PaymentRunSerializer.Meta.fields + ["orders", "deductions"]


class StatementQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()


class SettlementQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=["month", "quarter", "year"], default="month")
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    supplier = ScopedCodeField(Supplier, required=False)
    hospital = ScopedCodeField(Hospital, required=False)


class CompletionQuerySerializer(serializers.Serializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    as_of = serializers.DateField(required=False)
    hospital = ScopedCodeField(Hospital, required=False)
    laggards_only = serializers.BooleanField(required=False, default=False)
