"""API of chronic and special diseases (API.md ``chronic-diseases/``, ``chronic-certifications/``).

Thin views over ``services``: a case outside the caller's township is a 404 (scoped
queryset); a step the caller's role may not take is a 403 (role or service).
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
from yibao_site.models import Role
from yibao_site.permissions import ALL_ROLES, STAFF_ROLES, RolePermission

from . import selectors, services
from .models import Certification, ChronicDisease
from .serializers import (
    CertificationSerializer, ChronicDiseaseSerializer, CertificationMaterialSerializer, CertificationMaterialUploadSerializer, CertificationNoteSerializer,
    CertificationOpinionSerializer, CertificationReasonSerializer, CertificationReturnSerializer,
)

FILERS = frozenset({Role.TOWNSHIP_AGENT, Role.WINDOW_CLERK})
REVIEWERS = frozenset({Role.REVIEWER})


class ChronicDiseaseViewSet(viewsets.ReadOnlyModelViewSet):
    """门诊慢特病病种目录 (every version; ``?on=`` for the ones in force that day)."""

    queryset = ChronicDisease.objects.select_related("region").order_by("region__code", "code", "-valid_from")
    serializer_class = ChronicDiseaseSerializer
    filterset_fields = {"code": ["exact"], "separate_drug_payment": ["exact"], "region__code": ["exact"]}
    lookup_field = "pk"
    permission_classes = [RolePermission]
    read_roles = ALL_ROLES

    @extend_schema(parameters=[OpenApiParameter("on", str)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        qs = super().get_queryset()
        on = self.request.query_params.get("on")
        if on:
            day = _parse_day(on, "on")
            qs = qs.filter(valid_from__lte=day).exclude(valid_to__lt=day)
        return qs


class CertificationFilter(filters.FilterSet):
    person = filters.CharFilter(field_name="person__id_number")
    township = filters.CharFilter(field_name="township__code")
    disease = filters.CharFilter(field_name="disease__code")

    class Meta:
        model = Certification
        fields = {"status": ["exact", "in"], "overdue": ["exact"], "valid_to": ["lte", "gte"]}


def _payload(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class CertificationViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """门诊慢特病认定: file (POST), upload ``materials``, ``submit``, ``return``, ``resubmit``,
    hospital ``opinion``, ``approve``, ``reject``, ``review``, ``revoke``."""

    queryset = (Certification.objects.select_related("person", "township", "disease", "filed_by", "owner",
                                                     "decided_by")
                .prefetch_related("materials", "notices", "events__actor").order_by("-id"))
    serializer_class = CertificationSerializer
    filterset_class = CertificationFilter
    ordering_fields = ["id", "deadline", "filed_at", "status", "valid_to"]
    parser_classes = [StrictJSONParser, StrictMultiPartParser, StrictFormParser]
    permission_classes = [RolePermission]
    read_roles = ALL_ROLES
    write_roles = FILERS
    action_roles = {
        "submit": FILERS, "resubmit": FILERS, "materials": FILERS | REVIEWERS,
        "opinion": frozenset({Role.WINDOW_CLERK, Role.REVIEWER}),
        "approve": REVIEWERS, "reject": REVIEWERS, "review": REVIEWERS, "revoke": REVIEWERS,
        "return_": FILERS | REVIEWERS,
    }

    def _done(self, cert, code=status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=cert.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @transaction.atomic
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        cert = services.certification_create(actor=request.user, person=data["person"], disease=data["disease"],
                                             diagnosis=data.get("diagnosis", ""), note=data.get("note", ""))
        return self._done(cert, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=CertificationSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._done(services.certification_submit(actor=request.user, certification=self.get_object()))

    @extend_schema(request=CertificationOpinionSerializer, responses=CertificationSerializer)
    @action(detail=True, methods=["post"])
    def opinion(self, request, pk=None):
        data = _payload(CertificationOpinionSerializer, request)
        return self._done(services.certification_record_opinion(
            actor=request.user, certification=self.get_object(), hospital_code=data["hospital"],
            supports=data["supports"], opinion=data["opinion"]))

    @extend_schema(request=CertificationReasonSerializer, responses=CertificationSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = _payload(CertificationReasonSerializer, request)
        return self._done(services.certification_approve(actor=request.user, certification=self.get_object(),
                                                         reason=data["reason"]))

    @extend_schema(request=CertificationReasonSerializer, responses=CertificationSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = _payload(CertificationReasonSerializer, request)
        return self._done(services.certification_reject(actor=request.user, certification=self.get_object(),
                                                        reason=data["reason"]))

    @extend_schema(request=CertificationReasonSerializer, responses=CertificationSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        data = _payload(CertificationReasonSerializer, request)
        return self._done(services.certification_review(actor=request.user, certification=self.get_object(),
                                                        reason=data["reason"]))

    @extend_schema(request=CertificationReasonSerializer, responses=CertificationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        data = _payload(CertificationReasonSerializer, request)
        return self._done(services.certification_revoke(actor=request.user, certification=self.get_object(),
                                                        reason=data["reason"]))

    @extend_schema(request=CertificationReturnSerializer, responses=CertificationSerializer)
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    def return_(self, request, pk=None):
        data = _payload(CertificationReturnSerializer, request)
        cert = self.get_object()
        services.certification_return(actor=request.user, certification=cert,
                                      missing=[dict(i) for i in data["missing"]], reason=data["reason"])
        return self._done(cert)

    @extend_schema(request=CertificationNoteSerializer, responses=CertificationSerializer)
    @action(detail=True, methods=["post"])
    def resubmit(self, request, pk=None):
        data = _payload(CertificationNoteSerializer, request)
        return self._done(services.certification_resubmit(actor=request.user, certification=self.get_object(),
                                                          note=data["note"]))

    @extend_schema(request={"multipart/form-data": CertificationMaterialUploadSerializer}, responses={201: CertificationMaterialSerializer})
    @action(detail=True, methods=["post"])
    def materials(self, request, pk=None):
        data = _payload(CertificationMaterialUploadSerializer, request)
        material = services.material_add(actor=request.user, certification=self.get_object(),
                                         material_type=data["material_type"], upload=data["file"])
        return Response(CertificationMaterialSerializer(material).data, status=status.HTTP_201_CREATED)


def _parse_day(value: str | None, field: str) -> date:
    if not value:
        return timezone.localdate()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError({field: [_("日期格式应为 YYYY-MM-DD。")]}) from None


class CertifiedReportView(APIView):
    """认定人数:persons with a certification in force on ``?on=``, by disease and township."""

    permission_classes = [RolePermission]
    read_roles = ALL_ROLES

    @extend_schema(parameters=[OpenApiParameter("on", str)], responses=dict)
    def get(self, request):
        on = _parse_day(request.query_params.get("on"), "on")
        return Response({"on": on.isoformat(), "rows": selectors.certified_by_disease_and_township(request.user, on)})


class SpendingReportView(APIView):
    """慢特病费用:chronic claims with service dates in ``?from=&to=`` (default this year), by disease."""

    permission_classes = [RolePermission]
    read_roles = STAFF_ROLES

    @extend_schema(parameters=[OpenApiParameter("from", str), OpenApiParameter("to", str)], responses=dict)
    def get(self, request):
        today = timezone.localdate()
        start = _parse_day(request.query_params.get("from") or date(today.year, 1, 1).isoformat(), "from")
        end = _parse_day(request.query_params.get("to") or date(today.year, 12, 31).isoformat(), "to")
        rows = selectors.chronic_spending_by_disease(request.user, start, end)
        for row in rows:
            for key in ("total_cost", "basic_paid", "assistance_paid", "out_of_pocket"):
                row[key] = f"{row[key]:.2f}"
        return Response({"from": start.isoformat(), "to": end.isoformat(), "rows": rows})
