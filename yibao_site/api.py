"""API for the kernel: regions, policy parameters, auth tokens."""
from django.db import transaction
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .api_base import ScopedQuerysetMixin
from .models import PolicyParameter, Region, Role
from .permissions import ALL_ROLES
from .serializers import PolicyParameterSerializer, RegionSerializer
from .services import policy_parameter_save, region_save


class RegionFilter(filters.FilterSet):
    parent = filters.CharFilter(field_name="parent__code")
    within = filters.CharFilter(method="filter_within", label="区划及其下级")

    class Meta:
        model = Region
        fields = ["level", "parent"]

    def filter_within(self, qs, name, value):
        region = Region.objects.filter(code=value).only("path").first()
        return qs.filter(path__startswith=region.path) if region else qs.none()


class RegionViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                    viewsets.ReadOnlyModelViewSet):
    """行政区划 regions (natural key ``code``)."""

    queryset = Region.objects.select_related("parent").order_by("code")
    serializer_class = RegionSerializer
    lookup_field = "code"
    filterset_class = RegionFilter
    read_roles = ALL_ROLES
    write_roles = {Role.SUPERVISOR}

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer)

    def _save(self, serializer):
        data = serializer.validated_data
        instance = serializer.instance
        parent = data.get("parent", instance.parent if instance else None)
        serializer.instance = region_save(
            code=instance.code if instance else data["code"],
            name=data.get("name", instance.name if instance else ""),
            level=data.get("level", instance.level if instance else ""),
            parent_code=parent.code if parent else None,
            actor=self.request.user,
        )


class PolicyParameterViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """政策参数 dated policy parameters; filter ``?region=&key=``."""

    queryset = PolicyParameter.objects.select_related("region").order_by("key", "region__code", "-effective_from")
    serializer_class = PolicyParameterSerializer
    filterset_fields = {"key": ["exact", "startswith"], "effective_from": ["lte", "gte"]}
    read_roles = ALL_ROLES - {Role.TOWNSHIP_AGENT}
    write_roles = {Role.SUPERVISOR}

    def get_queryset(self):
        qs = super().get_queryset()
        region = self.request.query_params.get("region")
        return qs.filter(region__code=region) if region else qs

    @transaction.atomic
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        param, _changed = policy_parameter_save(actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(param).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    """Issue (POST) or revoke (DELETE) the caller's API token."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request):
        token, _ = Token.objects.get_or_create(user=request.user)
        return Response({"token": token.key})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
