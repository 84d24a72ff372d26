"""API of the double early warning (API.md ``warning-runs/``, ``warnings/``), plus the
partner departments' doors: ``warning-deliveries/{key}/acknowledge/`` and
``warnings/{id}/determine/``.

Who may do what:

- supervisor: run a month, read everything, redeliver, and record an acknowledgement or a
  determination on a department's behalf (e.g. from a paper reply) — naming the department;
- other staff: read runs, warnings and deliveries; township agents read only their own
  township's warnings (to help those residents apply), nothing else here;
- partner-department accounts (``PartnerAccount``: no staff role, token auth): read warnings
  and their own department's deliveries, download the list (``POST …/xlsx/`` records the
  download; ``GET`` only reads), acknowledge their deliveries and send determinations, as
  their own department.
"""
from __future__ import annotations

import uuid

from django import forms
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from yibao_site.api_base import ScopedQuerysetMixin
from yibao_site.models import Role
from yibao_site.permissions import ALL_ROLES, STAFF_ROLES, RolePermission
from yibao_site.xlsx import XLSX_TYPE as XLSX

from . import rules, services
from .exports import run_xlsx_response
from .models import PersonWarning, WarningDelivery, WarningKind, WarningRun, WarningStatus
from .serializers import (
    AcknowledgementSerializer, WarningDeliverySerializer, DeterminationSerializer, WarningRunSerializer, WarningSerializer,
)

SUPERVISOR = frozenset({Role.SUPERVISOR})


class PartnerOrRolePermission(RolePermission):
    """The kernel's role check, plus partner-department accounts on ``partner_actions``."""

    def has_permission(self, request, view) -> bool:
        if services.partner_of(request.user) is not None:
            return getattr(view, "action", None) in getattr(view, "partner_actions", ())
        return super().has_permission(request, view)

    def has_object_permission(self, request, view, obj) -> bool:
        if services.partner_of(request.user) is not None:
            return getattr(view, "action", None) in getattr(view, "partner_actions", ())
        return super().has_object_permission(request, view, obj)


class MonthFormField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return rules.parse_month(value)
        except ValueError:
            raise forms.ValidationError(_("月份格式应为 YYYY-MM,如 2024-03。"))


class MonthFilter(filters.Filter):
    field_class = MonthFormField


class WarningFilter(filters.FilterSet):
    month = MonthFilter(field_name="month")
    kind = filters.ChoiceFilter(choices=WarningKind.choices)
    status = filters.ChoiceFilter(choices=WarningStatus.choices)
    township = filters.CharFilter(field_name="township__code")
    person = filters.CharFilter(field_name="person__id_number")
    run = filters.ModelChoiceFilter(queryset=WarningRun.objects.all(), method="filter_run")

    class Meta:
        model = PersonWarning
        fields = ["month", "kind", "status", "township", "person", "is_new", "run"]

    def filter_run(self, queryset, name, value):
        # By the run's month too: the (month, kind) index serves a run's rows (there is no
        # index on run, see ``PersonWarning.Meta``).
        return queryset.filter(month=value.month, run=value) if value else queryset


class RunFilter(filters.FilterSet):
    month = MonthFilter(field_name="month")
    region = filters.CharFilter(field_name="region__code")

    class Meta:
        model = WarningRun
        fields = ["month", "region"]


class DeliveryFilter(filters.FilterSet):
    month = MonthFilter(field_name="run__month")
    acknowledged = filters.BooleanFilter(field_name="acknowledged_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = WarningDelivery
        fields = ["month", "department", "status", "channel", "acknowledged", "run"]


class WarningRunViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """预警批次: ``POST {region, month}`` runs the double early warning for that month (again:
    the existing run, unchanged, with 200)."""

    queryset = WarningRun.objects.select_related("region").prefetch_related("deliveries__run__region")
    serializer_class = WarningRunSerializer
    filterset_class = RunFilter
    ordering_fields = ["month", "created_at"]
    read_roles = STAFF_ROLES
    write_roles = SUPERVISOR
    permission_classes = [PartnerOrRolePermission]

    @extend_schema(responses={201: WarningRunSerializer, 200: WarningRunSerializer})  # 200: the month ran before
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run, created = services.warning_run(region=data["region"], month=data["month"], actor=request.user)
        run = self.get_queryset().get(pk=run.pk)
        return Response(self.get_serializer(run).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class WarningViewSet(ScopedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    """预警人员: filter ``?month=YYYY-MM&kind=return_to_poverty|into_poverty``;
    ``POST warnings/{id}/determine/`` records a department's determination."""

    queryset = PersonWarning.objects.select_related("person", "township").order_by("-month", "kind", "id")
    serializer_class = WarningSerializer
    filterset_class = WarningFilter
    ordering_fields = ["month", "out_of_pocket"]
    read_roles = ALL_ROLES
    action_roles = {"determine": SUPERVISOR}
    partner_actions = ("list", "retrieve", "determine")
    permission_classes = [PartnerOrRolePermission]

    @extend_schema(request=DeterminationSerializer, responses=WarningSerializer)
    @action(detail=True, methods=["post"])
    def determine(self, request, pk=None):
        warning = self.get_object()
        serializer = DeterminationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        partner = services.partner_of(request.user)
        if partner is None and not data.get("department"):
            return Response({"department": [_("工作人员代为登记时请填写核定部门。")]},
                            status=status.HTTP_400_BAD_REQUEST)
        warning = services.warning_determine(
            warning=warning, department=data.get("department", ""), outcome=data["outcome"], actor=request.user,
            identity_kind=data.get("identity_kind", ""), valid_from=data.get("valid_from"),
            valid_to=data.get("valid_to"), note=data.get("note", ""))
        return Response(WarningSerializer(self.get_queryset().get(pk=warning.pk)).data)


class WarningDeliveryViewSet(ScopedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    """预警推送 (one per run and department), addressed by its idempotency ``key``."""

    queryset = WarningDelivery.objects.select_related("run__region").order_by("-run__month", "department", "id")
    serializer_class = WarningDeliverySerializer
    filterset_class = DeliveryFilter
    lookup_field = "key"
    lookup_value_regex = r"[0-9a-fA-F-]{32,36}"
    read_roles = STAFF_ROLES
    action_roles = {"acknowledge": SUPERVISOR, "redeliver": SUPERVISOR, "xlsx": STAFF_ROLES}
    partner_actions = ("list", "retrieve", "acknowledge", "xlsx")
    permission_classes = [PartnerOrRolePermission]

    def get_queryset(self):
        qs = super().get_queryset()
        partner = services.partner_of(self.request.user)
        return qs.filter(department=partner.department) if partner else qs

    def get_object(self):
        try:
            uuid.UUID(str(self.kwargs.get(self.lookup_field)))
        except ValueError:
            raise Http404 from None
        return super().get_object()

    @extend_schema(request=AcknowledgementSerializer, responses=WarningDeliverySerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, key=None):
        delivery = self.get_object()
        serializer = AcknowledgementSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        delivery, _changed = services.delivery_acknowledge(delivery=delivery, actor=request.user,
                                                           note=serializer.validated_data.get("note", ""))
        return Response(WarningDeliverySerializer(self.get_queryset().get(pk=delivery.pk)).data)

    @extend_schema(request=None, responses=WarningDeliverySerializer)
    @action(detail=True, methods=["post"])
    def redeliver(self, request, key=None):
        delivery = services.delivery_redeliver(delivery=self.get_object(), actor=request.user)
        return Response(WarningDeliverySerializer(self.get_queryset().get(pk=delivery.pk)).data)

    @extend_schema(methods=["GET"], responses={(200, XLSX): bytes},
                   description="The list as XLSX; reading it records nothing.")
    @extend_schema(methods=["POST"], request=None, responses={(200, XLSX): bytes},
                   description="Download the list and record the delivery as downloaded (下载名单).")
    @action(detail=True, methods=["get", "post"])
    def xlsx(self, request, key=None):
        """``GET``: the list (pure, e.g. to look again); ``POST``: the department's download —
        the delivery is recorded as downloaded (then it can be acknowledged) and the list sent."""
        delivery = self.get_object()
        if request.method == "POST":
            services.delivery_mark_downloaded(delivery=delivery, actor=request.user)
        return run_xlsx_response(delivery.run, delivery.department)
