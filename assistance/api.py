"""API of the eligibility review (API.md ``assistance/applications/``).

Thin views: input checks, then one service or selector.  A case outside the caller's township
is a 404 (scoped queryset); a step the caller's role may not take is a 403 (role or service).
"""
from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from yibao_site.api_base import ScopedQuerysetMixin
from yibao_site.guards import StrictFormParser, StrictJSONParser, StrictMultiPartParser
from yibao_site.models import Region, Role
from yibao_site.permissions import ALL_ROLES, STAFF_ROLES, RolePermission

from . import selectors, services
from .models import Application, Holiday, Material, Payout
from .serializers import (
    ApplicationSerializer, AssistanceObjectSerializer, HolidaySerializer, MaterialSerializer,
    MaterialUploadSerializer, NoteSerializer, PayoutSerializer, ReasonSerializer, ReturnSerializer,
    VerifySerializer,
)

FILERS = frozenset({Role.TOWNSHIP_AGENT, Role.WINDOW_CLERK})


class ApplicationFilter(filters.FilterSet):
    person = filters.CharFilter(field_name="person__id_number")
    township = filters.CharFilter(field_name="township__code")
    queue = filters.ChoiceFilter(method="filter_queue", label="队列", choices=[
        ("to_review", "待我审核"), ("overdue", "已超期"), ("returned", "退回补正"), ("to_pay", "待支付")])

    class Meta:
        model = Application
        fields = {"status": ["exact", "in"], "kind": ["exact"], "overdue": ["exact"], "deadline": ["lte", "gte"]}

    def filter_queue(self, qs, name, value):
        user = self.request.user
        ids = {
            "to_review": lambda: selectors.queue_to_review(user),
            "overdue": lambda: selectors.queue_overdue(user, timezone.localdate()),
            "returned": lambda: selectors.queue_returned(user),
            "to_pay": lambda: selectors.queue_to_pay(user),
        }[value]()
        return qs.filter(pk__in=ids.values("pk"))


def _payload(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ApplicationViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """救助申请: file (POST), then ``submit``, ``verify``, ``approve``, ``reject``, ``return``,
    ``resubmit``; upload ``materials``; finance ``payout``."""

    queryset = (Application.objects.select_related("person", "township", "filed_by", "owner", "verified_by",
                                                    "decided_by", "payout")
                .prefetch_related("materials", "notices", "events__actor").order_by("-id"))
    serializer_class = ApplicationSerializer
    filterset_class = ApplicationFilter
    ordering_fields = ["id", "deadline", "filed_at", "status"]
    parser_classes = [StrictJSONParser, StrictMultiPartParser, StrictFormParser]
    permission_classes = [RolePermission]
    read_roles = ALL_ROLES
    write_roles = FILERS
    action_roles = {
        "submit": FILERS, "resubmit": FILERS, "materials": FILERS | {Role.REVIEWER},
        "verify": frozenset({Role.TOWNSHIP_AGENT, Role.REVIEWER}),
        "approve": frozenset({Role.REVIEWER}), "reject": frozenset({Role.REVIEWER}),
        "return_": FILERS | {Role.REVIEWER}, "payout": frozenset({Role.FINANCE}),
    }

    def _done(self, app, code=status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=app.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @transaction.atomic
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        app = services.application_create(actor=request.user, person=data["person"], kind=data["kind"],
                                          basis=data.get("basis", ""), category=data.get("category"),
                                          note=data.get("note", ""))
        return self._done(app, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._done(services.application_submit(actor=request.user, application=self.get_object()))

    @extend_schema(request=VerifySerializer, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        app = self.get_object()
        data = _payload(VerifySerializer, request)
        evidence = None
        if data["property_evidence"] is not None:
            evidence = Material.objects.filter(pk=data["property_evidence"], application=app).first()
            if evidence is None:
                raise ValidationError({"property_evidence": [_("该材料不属于本申请。")]})
        return self._done(services.application_verify(
            actor=request.user, application=app, note=data["note"],
            property_check_passed=data["property_check_passed"], property_evidence=evidence,
            property_note=data["property_note"]))

    @extend_schema(request=ReasonSerializer, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = _payload(ReasonSerializer, request)
        return self._done(services.application_approve(actor=request.user, application=self.get_object(),
                                                       reason=data["reason"]))

    @extend_schema(request=ReasonSerializer, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = _payload(ReasonSerializer, request)
        return self._done(services.application_reject(actor=request.user, application=self.get_object(),
                                                      reason=data["reason"]))

    @extend_schema(request=ReturnSerializer, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_(self, request, pk=None):
        data = _payload(ReturnSerializer, request)
        app = self.get_object()
        services.application_return(actor=request.user, application=app, missing=[dict(i) for i in data["missing"]],
                                    reason=data["reason"])
        return self._done(app)

    @extend_schema(request=NoteSerializer, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    def resubmit(self, request, pk=None):
        data = _payload(NoteSerializer, request)
        return self._done(services.application_resubmit(actor=request.user, application=self.get_object(),
                                                        note=data["note"]))

    @extend_schema(request={"multipart/form-data": MaterialUploadSerializer}, responses={201: MaterialSerializer})
    @action(detail=True, methods=["post"])
    def materials(self, request, pk=None):
        app = self.get_object()
        data = _payload(MaterialUploadSerializer, request)
        material = services.material_add(actor=request.user, application=app, material_type=data["material_type"],
                                         upload=data["file"])
        return Response(MaterialSerializer(material).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses={201: PayoutSerializer})
    @action(detail=True, methods=["post"])
    def payout(self, request, pk=None):
        data = request.data if isinstance(request.data, dict) else {}
        reference = str(data.get("reference", ""))[:60]
        payout = services.payout_create(actor=request.user, application=self.get_object(), reference=reference)
        return Response(PayoutSerializer(payout, context={"request": request}).data, status=status.HTTP_201_CREATED)


class PayoutViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """救助金支付: finance pays an approved retroactive or tilt amount once."""

    queryset = Payout.objects.select_related("application", "application__person", "paid_by").order_by("-id")
    serializer_class = PayoutSerializer
    filterset_fields = {"paid_at": ["date__gte", "date__lte"], "application__kind": ["exact"]}
    read_roles = STAFF_ROLES
    write_roles = frozenset({Role.FINANCE})

    @transaction.atomic
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payout = services.payout_create(actor=request.user, application=serializer.validated_data["application"],
                                        reference=serializer.validated_data.get("reference", ""))
        return Response(self.get_serializer(payout).data, status=status.HTTP_201_CREATED)


def _parse_day(value: str | None, field: str) -> date:
    if not value:
        return timezone.localdate()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError({field: [_("日期格式应为 YYYY-MM-DD。")]}) from None


def _parse_month(value: str | None) -> tuple[int, int]:
    if not value:
        today = timezone.localdate()
        return today.year, today.month
    try:
        year, month = value.split("-")
        year, month = int(year), int(month)
        date(year, month, 1)
    except (ValueError, TypeError):
        raise ValidationError({"month": [_("月份格式应为 YYYY-MM。")]}) from None
    return year, month


class AssistanceObjectViewSet(viewsets.GenericViewSet, mixins.ListModelMixin):
    """救助对象: persons who are assistance objects on ``?on=`` (default today), with their
    category (identities and approved determinations, highest wins); filter ``township``, ``category``."""

    serializer_class = AssistanceObjectSerializer
    read_roles = ALL_ROLES
    filter_backends = []

    @extend_schema(parameters=[OpenApiParameter("on", str), OpenApiParameter("township", str),
                               OpenApiParameter("category", int)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        on = _parse_day(params.get("on"), "on")
        township = None
        if params.get("township"):
            township = Region.objects.filter(code=params["township"]).first()
            if township is None:
                raise ValidationError({"township": [_("区划不存在。")]})
        category = params.get("category")
        if category not in (None, "") and category not in ("1", "2", "3", "4"):
            raise ValidationError({"category": [_("救助类别应为1至4。")]})
        return selectors.assistance_objects(self.request.user, on, township=township,
                                            category=int(category) if category else None)


class DynamicsView(APIView):
    """救助对象动态:added and removed objects of ``?month=YYYY-MM``, by township."""

    permission_classes = [RolePermission]
    read_roles = ALL_ROLES

    @extend_schema(parameters=[OpenApiParameter("month", str)], responses=dict)
    def get(self, request):
        year, month = _parse_month(request.query_params.get("month"))
        return Response(selectors.monthly_dynamics(request.user, year, month))


class HolidayViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """节假日: the working-day calendar the deadlines count on."""

    queryset = Holiday.objects.order_by("date")
    serializer_class = HolidaySerializer
    filterset_fields = {"date": ["gte", "lte"]}
    read_roles = STAFF_ROLES
    write_roles = frozenset({Role.SUPERVISOR})

    @transaction.atomic
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        holiday = services.holiday_save(actor=request.user, day=data["date"], name=data["name"],
                                        is_workday=data.get("is_workday", False))
        return Response(self.get_serializer(holiday).data, status=status.HTTP_201_CREATED)
