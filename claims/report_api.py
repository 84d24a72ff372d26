"""API of the published reports (seeds 000, 001): ``GET /api/v1/reports/<kind>/``."""
from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from yibao_site.money import jsonable
from yibao_site.permissions import STAFF_ROLES, RolePermission

from . import reports
from .reports import report_region


class ReportQuery(serializers.Serializer):
    year = serializers.IntegerField(min_value=1990, max_value=2100)
    through = serializers.DateField(required=False)
    region = serializers.CharField(required=False, max_length=12)


class PublishedReportView(APIView):
    """One published report: ``funds`` (基金收支, 可支付月数), ``assistance`` (医疗救助人次与金额),
    ``poverty`` (脱贫人口住院实际报销比例), ``subsidy`` (资助参保人数与金额)."""

    permission_classes = [RolePermission]
    read_roles = STAFF_ROLES

    @extend_schema(parameters=[OpenApiParameter("year", int, required=True), OpenApiParameter("through", str),
                               OpenApiParameter("region", str)], responses=dict)
    def get(self, request, kind: str):
        if kind not in reports.REPORTS:
            return Response({"detail": [_("报表不存在。")]}, status=status.HTTP_404_NOT_FOUND)
        query = ReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        code = query.validated_data.get("region")
        region = report_region(request.user, code)
        if region is None or (code and region.code != code):
            return Response({"region": [_("区划不存在。")]}, status=status.HTTP_400_BAD_REQUEST)
        data = reports.build(kind, year=query.validated_data["year"], region=region,
                             through=query.validated_data.get("through"))
        return Response(jsonable(data))
