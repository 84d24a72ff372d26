"""API of ``claims/`` (API.md): settlement, reversal, correction; fund entries and the fund report."""
from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from members.models import Person
from yibao_site.api_base import ScopedQuerysetMixin
from yibao_site.models import Region
from yibao_site.money import jsonable
from yibao_site.permissions import STAFF_ROLES, RolePermission
from yibao_site.scoping import scope_queryset

from . import selectors, services
from .models import Claim, ClaimSource, ClaimStatus, FundEntry, VisitType
from .models import PersonYearLedger
from .services import FINANCE_ROLES, RESETTLE_ROLES, SETTLE_ROLES
from .serializers import (
    LedgerSerializer,
    ResettleResultSerializer,
    ResettleSerializer,
    ClaimListSerializer,
    ClaimSerializer,
    FundEntrySerializer,
    FundReportQuery,
    ReverseSerializer,
)


class ClaimFilter(filters.FilterSet):
    person = filters.CharFilter(field_name="person__id_number")
    township = filters.CharFilter(field_name="person__township__code")
    service_date_from = filters.DateFilter(field_name="service_date", lookup_expr="gte")
    service_date_to = filters.DateFilter(field_name="service_date", lookup_expr="lte")
    visit_type = filters.ChoiceFilter(choices=VisitType.choices)
    status = filters.ChoiceFilter(choices=ClaimStatus.choices)
    source = filters.ChoiceFilter(choices=ClaimSource.choices)

    class Meta:
        model = Claim
        fields = ["person", "year", "visit_type", "status", "source", "hospital_level", "external_ref", "disease", "chronic_review"]


class ClaimViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """结算单 claims: POST settles through every tier (一站式结算); ``reverse`` (冲销) and
    ``correct`` (更正 = 冲销 + 重新结算) act on one claim."""

    queryset = Claim.objects.select_related("person").order_by("-id")
    serializer_class = ClaimSerializer
    filterset_class = ClaimFilter
    ordering_fields = ["id", "service_date", "settled_at", "total_cost", "out_of_pocket"]
    read_roles = STAFF_ROLES
    write_roles = SETTLE_ROLES
    action_roles = {"reverse": SETTLE_ROLES, "correct": SETTLE_ROLES}

    def get_serializer_class(self):
        return ClaimListSerializer if self.action == "list" else ClaimSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        claim = services.claim_settle(
            person=data["person"], visit_type=data["visit_type"], hospital_level=int(data["hospital_level"]),
            service_date=data["service_date"], total_cost=data["total_cost"],
            policy_scope_cost=data["policy_scope_cost"], in_province=data.get("in_province", True),
            referred=data.get("referred", False), basic_paid=data.get("basic_paid"),
            critical_paid=data.get("critical_paid"), admission_date=data.get("admission_date"),
            external_ref=data.get("external_ref") or None, source=ClaimSource.API, actor=request.user,
            disease=data.get("disease", ""), diagnosis=data.get("diagnosis", ""),
            in_region=data.get("in_region", True))
        if claim.person_id == data["person"].pk and not Claim.person.field.is_cached(claim):
            claim.person = data["person"]  # the answer names the person already loaded: no second SELECT
        serializer.instance = claim  # the same ClaimSerializer answers: its fields are built once
        return Response(serializer.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReverseSerializer, responses={201: ClaimSerializer})
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        """冲销: reverse the claim and its ledger effect; answers with the reversal entry."""
        claim = self.get_object()
        body = ReverseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reversal = services.claim_reverse(claim=claim, actor=request.user, reason=body.validated_data["reason"])
        return Response(ClaimSerializer(reversal, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=ClaimSerializer, responses={201: ClaimSerializer})
    @action(detail=True, methods=["post"])
    @transaction.atomic
    def correct(self, request, pk=None):
        """更正: reverse the claim and settle the corrected one (the body of a new claim; the
        person cannot change)."""
        claim = self.get_object()
        if not hasattr(request.data, "copy"):
            return Response({"detail": [_("请求体应为对象。")]}, status=status.HTTP_400_BAD_REQUEST)
        data = request.data.copy()
        data["person"] = claim.person.id_number
        serializer = ClaimSerializer(data=data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        v = serializer.validated_data
        new = services.claim_correct(
            claim=claim, actor=request.user, reason=str(request.data.get("reason", ""))[:100],
            visit_type=v["visit_type"], hospital_level=int(v["hospital_level"]), service_date=v["service_date"],
            total_cost=v["total_cost"], policy_scope_cost=v["policy_scope_cost"],
            in_province=v.get("in_province", True), referred=v.get("referred", False),
            basic_paid=v.get("basic_paid"), critical_paid=v.get("critical_paid"),
            admission_date=v.get("admission_date"), disease=v.get("disease", ""), diagnosis=v.get("diagnosis", ""),
            in_region=v.get("in_region", True))
        return Response(ClaimSerializer(new, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


class LedgerFilter(filters.FilterSet):
    person = filters.CharFilter(field_name="person__id_number")
    township = filters.CharFilter(field_name="person__township__code")

    class Meta:
        model = PersonYearLedger
        fields = ["person", "year"]


class LedgerViewSet(ScopedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    """个人年度台账 ledgers: the year's totals per tier (adjustments included) and its entries;
    ``resettle`` (重新结算) previews or makes the adjustments the facts known now call for."""

    queryset = PersonYearLedger.objects.select_related("person").order_by("person_id", "year")
    serializer_class = LedgerSerializer
    filterset_class = LedgerFilter
    read_roles = STAFF_ROLES
    write_roles = RESETTLE_ROLES
    action_roles = {"resettle": RESETTLE_ROLES}

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        data = LedgerSerializer(selectors.ledger_views(page), many=True).data
        return self.get_paginated_response(data)

    def retrieve(self, request, *args, **kwargs):
        return Response(LedgerSerializer(selectors.ledger_view(self.get_object())).data)

    @extend_schema(request=ResettleSerializer,
                   responses={200: ResettleResultSerializer, 201: ResettleResultSerializer})  # 201: adjustments made
    @action(detail=False, methods=["post"])
    def resettle(self, request):
        """重新结算: settle the person-year again from scratch with the facts known now (after a
        corrected identity, enrolment or registration).  ``confirm`` false: the adjustments it
        would make, nothing written; true: made.  Again changes nothing."""
        body = ResettleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        v = body.validated_data
        person = scope_queryset(Person.objects.filter(id_number=v["person"]), request.user).first()
        if person is None:
            return Response({"person": [_("参保人不存在。")]}, status=status.HTTP_400_BAD_REQUEST)
        result = services.ledger_resettle(person=person, year=v["year"], confirm=v["confirm"],
                                          actor=request.user, reason=v["reason"])
        data = {"person": person.id_number, "year": v["year"], "confirmed": result.confirmed,
                "adjustments": [selectors.entry_row(e) if e.pk else {**selectors.entry_row(e), "at": timezone.now()}
                                for e in result.entries],
                "totals": result.total}
        return Response(ResettleResultSerializer(data).data,
                        status=status.HTTP_201_CREATED if result.confirmed and result.entries else status.HTTP_200_OK)


class FundEntryViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """基金收支登记: income by source, opening balances and other expense, recorded by finance."""

    queryset = FundEntry.objects.select_related("region").order_by("-month", "fund", "id")
    serializer_class = FundEntrySerializer
    filterset_fields = ["fund", "kind"]
    read_roles = STAFF_ROLES
    write_roles = FINANCE_ROLES

    def get_queryset(self):
        return scope_queryset(super().get_queryset(), self.request.user)

    def perform_create(self, serializer):
        data = serializer.validated_data
        year, month = (int(x) for x in data["month"].split("-"))
        serializer.instance = services.fund_entry_record(
            fund=data["fund"], region=data["region"], month=date(year, month, 1), kind=data["kind"],
            amount=data["amount"], note=data.get("note", ""), actor=self.request.user)


class FundReportView(APIView):
    """基金运行报表: amounts by fund and tier per month, balances and months of payment capacity."""

    permission_classes = [RolePermission]
    read_roles = STAFF_ROLES

    @extend_schema(parameters=[OpenApiParameter("year", int, required=True), OpenApiParameter("region", str)],
                   responses=dict)
    def get(self, request):
        query = FundReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        region = None
        code = query.validated_data.get("region")
        if code:
            region = scope_queryset(Region.objects.filter(code=code), request.user).first()
            if region is None:
                return Response({"region": [_("区划不存在。")]}, status=status.HTTP_400_BAD_REQUEST)
        elif request.user.region_id and not request.user.is_superuser:
            region = request.user.region
        report = selectors.fund_report(year=query.validated_data["year"], region=region)
        return Response(jsonable(report))

