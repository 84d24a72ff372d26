"""API of the procurement resources (API.md): thin views, one service or selector call each.

Roles: finance writes (master data, deliveries, acceptance, reconciliation, payment runs);
supervisors, window clerks and reviewers read; township agents see nothing of procurement.
"""
from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from yibao_site.api_base import ScopedQuerysetMixin
from yibao_site.models import Role
from yibao_site.money import jsonable
from yibao_site.permissions import STAFF_ROLES
from yibao_site.xlsx import xlsx_response

from . import selectors, services
from .exports import supplier_statement_sheets, volume_completion_sheet
from .models import (
    AgreedVolume, Delivery, DeliveryAlert, DeliveryStatus, Hospital, Order, PaymentOrder, PaymentRun,
    ProcurementBatch, Product, RunStatus, RunTrigger, Supplier,
)
from .serializers import (
    AcceptSerializer, AgreedVolumeSerializer, CompletionQuerySerializer, DeliverySerializer, HospitalSerializer,
    OrderSerializer, PaymentOrderDetailSerializer, PaymentOrderSerializer, PaymentRunCreateSerializer,
    PaymentRunDetailSerializer, PaymentRunSerializer, ProcurementBatchSerializer, ProductSerializer,
    ReconcileSerializer, ReviewSerializer, SettlementQuerySerializer, StatementQuerySerializer, SupplierSerializer,
)

FINANCE = frozenset({Role.FINANCE})
READERS = STAFF_ROLES  # everyone but township agents
CODE_REGEX = r"[\w.\-]+"  # letters, digits, _ . - (never a control character)


class _CodeUpsertViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                         viewsets.ReadOnlyModelViewSet):
    """Master data addressed by ``code``: POST creates, PUT/PATCH updates, through a service."""

    lookup_field = "code"
    lookup_value_regex = CODE_REGEX
    read_roles = READERS
    write_roles = FINANCE
    save_fields: tuple[str, ...] = ()

    def service(self, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def _values(self, serializer) -> dict:
        data, instance = serializer.validated_data, serializer.instance
        values = {f: data[f] if f in data else getattr(instance, f) for f in self.save_fields
                  if f in data or instance is not None}
        values["code"] = instance.code if instance is not None else data["code"]
        return values

    def perform_create(self, serializer):
        if self.get_queryset().model.objects.filter(code=serializer.validated_data["code"]).exists():
            raise ValidationError({"code": [_("编码已存在;请用 PUT/PATCH 修改。")]})
        serializer.instance = self.service(**self._values(serializer), actor=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = self.service(**self._values(serializer), actor=self.request.user)


class ProcurementBatchViewSet(_CodeUpsertViewSet):
    """集采批次 procurement batches."""

    queryset = ProcurementBatch.objects.order_by("code")
    serializer_class = ProcurementBatchSerializer
    filterset_fields = ["level"]
    save_fields = ("name", "level", "starts_on", "ends_on")

    def service(self, **kw):
        return services.batch_save(**kw)


class SupplierViewSet(_CodeUpsertViewSet):
    """供应企业 suppliers; ``GET suppliers/{code}/statement/?date_from=&date_to=[&export=xlsx]``."""

    queryset = Supplier.objects.order_by("code")
    serializer_class = SupplierSerializer
    save_fields = ("name", "credit_code", "bank_name", "bank_account")
    action_roles = {"statement": READERS}

    def service(self, **kw):
        return services.supplier_save(**kw)

    @extend_schema(parameters=[StatementQuerySerializer], responses=dict)
    @action(detail=True, methods=["get"])
    def statement(self, request, code=None):
        """对账单: deliveries of the period with acceptance and payment, payments, what is owed."""
        supplier = self.get_object()
        query = StatementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = selectors.supplier_statement(user=request.user, supplier=supplier, **query.validated_data)
        if request.query_params.get("export") == "xlsx":
            return xlsx_response(f"statement-{supplier.code}.xlsx", supplier_statement_sheets(data))
        return Response(jsonable(data))


class ProductViewSet(_CodeUpsertViewSet):
    """集采产品 products with the selected unit price."""

    queryset = Product.objects.select_related("batch", "supplier").order_by("code")
    serializer_class = ProductSerializer
    filterset_fields = {"kind": ["exact"], "batch__code": ["exact"], "supplier__code": ["exact"]}
    save_fields = ("name", "kind", "unit_price", "specification", "unit", "batch", "supplier")

    def service(self, **kw):
        return services.product_save(**kw)


class HospitalViewSet(_CodeUpsertViewSet):
    """定点医疗机构 designated hospitals."""

    queryset = Hospital.objects.select_related("township").order_by("code")
    serializer_class = HospitalSerializer
    filterset_fields = {"level": ["exact"], "township__code": ["exact"]}
    save_fields = ("name", "level", "township")

    def service(self, **kw):
        return services.hospital_save(**kw)


class AgreedVolumeViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """约定采购量 agreed yearly volumes; POST sets (creates or changes) one."""

    queryset = AgreedVolume.objects.select_related("hospital", "product").order_by("year", "hospital__code",
                                                                                    "product__code")
    serializer_class = AgreedVolumeSerializer
    filterset_fields = {"year": ["exact"], "hospital__code": ["exact"], "product__code": ["exact"]}
    read_roles = READERS
    write_roles = FINANCE

    def perform_create(self, serializer):
        serializer.instance = services.agreed_volume_save(**serializer.validated_data, actor=self.request.user)


class OrderViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """采购订单 purchase orders."""

    queryset = Order.objects.select_related("hospital", "supplier", "product").order_by("-ordered_on", "-id")
    serializer_class = OrderSerializer
    filterset_fields = {"hospital__code": ["exact"], "supplier__code": ["exact"], "ordered_on": ["gte", "lte"]}
    read_roles = READERS
    write_roles = FINANCE

    def perform_create(self, serializer):
        serializer.instance = services.order_create(**serializer.validated_data, actor=self.request.user)


class DeliveryFilter(filters.FilterSet):
    hospital = filters.CharFilter(field_name="hospital__code")
    supplier = filters.CharFilter(field_name="supplier__code")
    product = filters.CharFilter(field_name="product__code")
    status = filters.ChoiceFilter(choices=DeliveryStatus.choices)
    alert = filters.ChoiceFilter(choices=[c for c in DeliveryAlert.choices if c[0]])
    delivered_from = filters.DateFilter(field_name="delivered_on", lookup_expr="gte")
    delivered_to = filters.DateFilter(field_name="delivered_on", lookup_expr="lte")
    due_to = filters.DateFilter(field_name="due_on", lookup_expr="lte")

    class Meta:
        model = Delivery
        fields = ["hospital", "supplier", "product", "status", "alert"]


class DeliveryViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """配送 deliveries: POST registers one; ``accept`` records acceptance; ``reconcile`` records
    a corrected invoice for a held delivery."""

    queryset = Delivery.objects.select_related("hospital", "supplier", "product").prefetch_related("payment_lines__order")
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilter
    ordering_fields = ["delivered_on", "due_on", "accepted_on", "id"]
    ordering = ["-delivered_on", "-id"]
    read_roles = READERS
    write_roles = FINANCE
    action_roles = {"accept": FINANCE, "reconcile": FINANCE}

    def perform_create(self, serializer):
        serializer.instance = services.delivery_create(**serializer.validated_data, actor=self.request.user)

    @extend_schema(request=AcceptSerializer, responses=DeliverySerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        delivery = self.get_object()
        ser = AcceptSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        delivery = services.delivery_accept(delivery_id=delivery.pk, actor=request.user, **ser.validated_data)
        return Response(self.get_serializer(delivery).data)

    @extend_schema(request=ReconcileSerializer, responses=DeliverySerializer)
    @action(detail=True, methods=["post"])
    def reconcile(self, request, pk=None):
        delivery = self.get_object()
        ser = ReconcileSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        delivery = services.delivery_reconcile(delivery_id=delivery.pk, actor=request.user, **ser.validated_data)
        return Response(self.get_serializer(delivery).data)


class PaymentRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """支付批次 payment runs: POST ``{as_of}`` runs (or resumes) that date's run and returns it;
    a date already completed is returned unchanged (200).  ``review`` records finance's review."""

    queryset = PaymentRun.objects.select_related("reviewed_by").order_by("-as_of")
    serializer_class = PaymentRunSerializer
    filterset_fields = {"status": ["exact"], "as_of": ["gte", "lte"], "reviewed_at": ["isnull"]}
    read_roles = READERS
    write_roles = FINANCE
    action_roles = {"review": FINANCE}

    def get_queryset(self):
        qs = super().get_queryset()
        return qs.prefetch_related("orders__supplier", "deductions__hospital") if self.action == "retrieve" else qs

    def get_serializer_class(self):
        return PaymentRunDetailSerializer if self.action in ("retrieve", "review") else super().get_serializer_class()

    @extend_schema(request=PaymentRunCreateSerializer,
                   responses={201: PaymentRunSerializer, 200: PaymentRunSerializer})  # 200: that date was paid
    def create(self, request, *args, **kwargs):
        ser = PaymentRunCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        as_of = ser.validated_data["as_of"]
        done_before = PaymentRun.objects.filter(as_of=as_of, status=RunStatus.COMPLETED).exists()
        run = services.payment_run_start(as_of=as_of, trigger=RunTrigger.API, actor=request.user)
        return Response(PaymentRunSerializer(run).data,
                        status=status.HTTP_200_OK if done_before else status.HTTP_201_CREATED)

    @extend_schema(request=ReviewSerializer, responses=PaymentRunDetailSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        run = self.get_object()
        ser = ReviewSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        run = services.payment_run_review(run_id=run.pk, actor=request.user, **ser.validated_data)
        return Response(PaymentRunDetailSerializer(run).data)


class PaymentOrderViewSet(viewsets.ReadOnlyModelViewSet):
    """付款单 payment orders (one per run and supplier) with their lines."""

    queryset = PaymentOrder.objects.select_related("run", "supplier").order_by("-run__as_of", "supplier__code")
    serializer_class = PaymentOrderSerializer
    filterset_fields = {"run": ["exact"], "supplier__code": ["exact"], "run__as_of": ["gte", "lte"]}
    read_roles = READERS

    def get_queryset(self):
        qs = super().get_queryset()
        return qs.prefetch_related("lines__hospital") if self.action == "retrieve" else qs

    def get_serializer_class(self):
        return PaymentOrderDetailSerializer if self.action == "retrieve" else super().get_serializer_class()


class SettlementReportView(APIView):
    """直接结算统计: amount settled per period, days from acceptance to payment, share on time.
    ``?period=month|quarter|year&date_from=&date_to=&supplier=&hospital=``"""

    read_roles = READERS

    @extend_schema(parameters=[SettlementQuerySerializer], responses=dict)
    def get(self, request):
        query = SettlementQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        return Response(jsonable(selectors.settlement_report(user=request.user, **query.validated_data)))


class VolumeCompletionView(APIView):
    """约定采购量完成情况 per hospital and product, laggards flagged.
    ``?year=&as_of=&hospital=&laggards_only=&export=xlsx``"""

    read_roles = READERS

    @extend_schema(parameters=[CompletionQuerySerializer], responses=dict)
    def get(self, request):
        query = CompletionQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        data = dict(query.validated_data)
        data.setdefault("as_of", None)
        data["as_of"] = data["as_of"] or timezone.localdate()
        rows = selectors.volume_completion(user=request.user, **data)
        if request.query_params.get("export") == "xlsx":
            return xlsx_response(f"volume-completion-{data['year']}.xlsx", [volume_completion_sheet(rows)])
        return Response({"year": data["year"], "as_of": data["as_of"].isoformat(),
                         "results": [jsonable(r.as_dict()) for r in rows]})
