"""API of the members resources (API.md): thin views, one service or selector call each."""
from __future__ import annotations

from datetime import date

from django.db import connections, router, transaction
from django.db.models.query import MAX_GET_RESULTS
from django.http import Http404
from django.db.models import Q
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from yibao_site.idnumbers import display_id
from yibao_site.api_base import FilterBackend, ReplayedPage, ScopedQuerysetMixin, replayed_lookup
from yibao_site.models import Role
from yibao_site.permissions import ALL_ROLES, STAFF_ROLES
from yibao_site.scoping import scope_queryset, user_scope_region

from . import services
from .exports import subsidy_batch_response
from .models import Enrollment, Identity, OffsiteRegistration, Person, Relative, SubsidyBatch
from .serializers import (
    EnrollmentSerializer, IdentitySerializer, MonthSerializer, OffsiteRegistrationSerializer, PersonSerializer,
    RelativePremiumSerializer, RelativeSerializer, SubsidyBatchDetailSerializer, SubsidyBatchSerializer,
)

CLERK = frozenset({Role.WINDOW_CLERK})
# Query parameters that never change a list's statements (only its LIMIT/OFFSET).
_PAGE_ONLY = frozenset({"page", "page_size"})
# Filter backends known to leave a queryset as it is when no parameter names them.
_PLAIN_BACKENDS = [FilterBackend, OrderingFilter]
ID_NUMBER_REGEX = r"[0-9]{17}[0-9Xx]"


class PersonFilter(filters.FilterSet):
    township = filters.CharFilter(field_name="township__code")
    village = filters.CharFilter(field_name="village__code")
    name = filters.CharFilter(field_name="name", lookup_expr="startswith")
    household_no = filters.CharFilter()
    search = filters.CharFilter(method="filter_search", label="身份证号或姓名")

    class Meta:
        model = Person
        fields = ["township", "village", "name", "household_no", "sex"]

    def filter_search(self, qs, name, value):
        value = value.strip()
        if value[:1].isdigit():
            return qs.filter(id_number__startswith=value.upper()) if len(value) >= 6 else qs.none()
        return qs.filter(name__startswith=value)


class _Code:
    __slots__ = ("code",)

    def __init__(self, code):
        self.code = code


class _PersonRow:
    """A person of a list page as :class:`PersonSerializer` reads it (``village.code``,
    ``township.code``, the plain columns), from one tuple of ``PersonViewSet.READ_COLUMNS``:
    no model instance (three per row with the two regions) built for a page of 50."""

    __slots__ = ("id", "id_number", "name", "village", "phone", "household_no", "sex", "birth_date", "township",
                 "id_outside_county")

    def __init__(self, row):
        (self.id, self.id_number, self.name, village, self.phone, self.household_no, self.sex, self.birth_date,
         township, self.id_outside_county) = row
        self.village = None if village is None else _Code(village)
        self.township = None if township is None else _Code(township)


class _CountedBy:
    """Value rows to paginate, counted by the model queryset they come from: the count of a
    ``values_list`` over related columns keeps their joins (``COUNT(*)`` over person ⋈ village
    ⋈ township, twice the database's CPU of a list page), the model queryset's count is the
    plain index-only one."""

    def __init__(self, rows, counted):
        self.rows, self.counted = rows, counted

    @property
    def ordered(self) -> bool:
        return self.rows.ordered

    def count(self) -> int:
        return self.counted.count()

    def __getitem__(self, key):
        return self.rows[key]


class PersonViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                    viewsets.ReadOnlyModelViewSet):
    """参保人员 persons, addressed by ``id_number``; IDs are masked in lists for roles that do not need them."""

    queryset = Person.objects.select_related("village", "township").order_by("id")
    serializer_class = PersonSerializer
    lookup_field = "id_number"
    lookup_value_regex = ID_NUMBER_REGEX
    filterset_class = PersonFilter
    read_roles = ALL_ROLES
    write_roles = CLERK
    action_roles = {"relatives": ALL_ROLES, "account": STAFF_ROLES, "pay_relative_premium": CLERK}

    # A read loads only what PersonSerializer shows (the regions' code, not their path, name…).
    READ_COLUMNS = ("id", "id_number", "name", "village__code", "phone", "household_no", "sex", "birth_date",
                    "township__code", "id_outside_county")

    def get_queryset(self):
        qs = super().get_queryset()
        return qs.only(*self.READ_COLUMNS) if self.action in ("list", "retrieve") else qs

    def list(self, request, *args, **kwargs):
        """The page read as value tuples of ``READ_COLUMNS`` (filtered, ordered and paginated as
        the generic list does) and represented by the same serializer: same answer."""
        if self.get_serializer_class() is not PersonSerializer or self.paginator is None:
            return super().list(request, *args, **kwargs)
        key = self._statement_key(request, "list")
        if key is not None:  # a plain page: the statements compiled once for this scope
            def build():
                queryset = self.filter_queryset(self.get_queryset())
                return queryset.values_list(*self.READ_COLUMNS), queryset

            page = self.paginate_queryset(ReplayedPage(connections[key[1]], key, build))
            serializer = self.get_serializer([_PersonRow(row) for row in page], many=True)
            return self.get_paginated_response(serializer.data)
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(_CountedBy(queryset.values_list(*self.READ_COLUMNS), queryset))
        serializer = self.get_serializer([_PersonRow(row) for row in page], many=True)
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, *args, **kwargs):
        """The person read as one value tuple of ``READ_COLUMNS`` (scoped and filtered as
        ``get_object`` does, 404 alike, the same object permission check) and represented by
        the same serializer: same answer, without the ``select_related`` compile and the three
        model instances (person and its two regions) of a read."""
        if self.get_serializer_class() is not PersonSerializer:
            return super().retrieve(request, *args, **kwargs)
        self.kwargs[self.lookup_field] = value = self.kwargs[self.lookup_field].upper()
        key = self._statement_key(request, "retrieve")
        if key is not None:  # the statement ``get_object_or_404`` would run, compiled once for this scope
            def build(slot):
                queryset = self.filter_queryset(self.get_queryset()).values_list(*self.READ_COLUMNS)
                return queryset.filter(**{self.lookup_field: slot}).order_by()[:MAX_GET_RESULTS]

            rows = replayed_lookup(connections[key[1]], key, build, value)
            if not rows:  # as get_object_or_404 says it
                raise Http404(f"No {Person._meta.object_name} matches the given query.")
            if len(rows) > 1:
                raise Person.MultipleObjectsReturned(f"get() returned more than one Person -- it returned {len(rows)}!")
            person = _PersonRow(rows[0])
        else:
            queryset = self.filter_queryset(self.get_queryset()).values_list(*self.READ_COLUMNS)
            person = _PersonRow(get_object_or_404(queryset, **{self.lookup_field: value}))
        self.check_object_permissions(request, person)
        return Response(self.get_serializer(person).data)

    def _statement_key(self, request, action: str):
        """What the list's or detail's statements depend on, or ``None`` when a request's
        parameters may change them (a filter, an ordering: those go through the ORM each time).
        Otherwise the SQL is a function of the database it is read from and of the caller's
        scope — exactly the inputs :func:`scope_queryset` reads (authenticated, superuser, role,
        bound region and that region's id, level and path)."""
        if not _PAGE_ONLY.issuperset(request.query_params.keys()) or list(self.filter_backends) != _PLAIN_BACKENDS:
            return None
        user = request.user
        region = user_scope_region(user)
        return ("persons", router.db_for_read(Person), action, bool(user.is_authenticated), bool(user.is_superuser),
                user.role, user.region_id, None if region is None else (region.pk, region.level, region.path))

    def get_object(self):
        self.kwargs[self.lookup_field] = self.kwargs[self.lookup_field].upper()
        return super().get_object()

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.person_register(
            id_number=data["id_number"], name=data["name"], village_code=data["village"]["code"],
            phone=data.get("phone", ""), household_no=data.get("household_no", ""), actor=self.request.user)

    def perform_update(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.person_update(
            person=serializer.instance, name=data.get("name"),
            village_code=data["village"]["code"] if "village" in data else None,
            phone=data.get("phone"), household_no=data.get("household_no"), actor=self.request.user)

    @extend_schema(methods=["GET"], responses=RelativeSerializer(many=True))
    @extend_schema(methods=["POST"], request=RelativeSerializer, responses={201: RelativeSerializer})
    @action(detail=True, methods=["get", "post"], serializer_class=RelativeSerializer, filter_backends=[])
    def relatives(self, request, id_number=None):
        """近亲属: GET lists (paginated, API.md), POST ``{relative, relation}`` adds (window clerks)."""
        person = self.get_object()
        if request.method == "POST":
            if not request.user.has_role(Role.WINDOW_CLERK):
                return Response({"detail": _("您的角色无权执行此操作。")}, status=status.HTTP_403_FORBIDDEN)
            ser = RelativeSerializer(data=request.data, context=self.get_serializer_context())
            ser.is_valid(raise_exception=True)
            link = services.relative_add(person=person, relative=ser.validated_data["relative"],
                                         relation=ser.validated_data["relation"], actor=request.user)
            return Response(RelativeSerializer(link).data, status=status.HTTP_201_CREATED)
        links = Relative.objects.filter(person=person).select_related("relative").order_by("id")
        page = self.paginate_queryset(links)
        return self.get_paginated_response(RelativeSerializer(page, many=True).data)

    @extend_schema(request=None, responses=dict)
    @action(detail=True, methods=["get"])
    def account(self, request, id_number=None):
        """个人账户: balance and the last 100 entries."""
        person = self.get_object()
        account = getattr(person, "personal_account", None)
        if account is None:
            return Response({"detail": _("该人员没有个人账户。")}, status=status.HTTP_404_NOT_FOUND)
        entries = account.entries.order_by("-id")[:100]
        return Response({
            "balance": f"{account.balance:.2f}", "opened_on": account.opened_on,
            "entries": [{"kind": e.kind, "amount": f"{e.amount:.2f}", "balance_after": f"{e.balance_after:.2f}",
                         "on": e.on, "memo": e.memo,
                         "relative": display_id(request.user, e.relative.id_number) if e.relative_id else None}
                        for e in entries.select_related("relative")],
        })

    @extend_schema(request=RelativePremiumSerializer, responses={201: EnrollmentSerializer})
    @action(detail=True, methods=["post"], url_path="pay-relative-premium")
    def pay_relative_premium(self, request, id_number=None):
        """家庭共济: pay a close relative's resident premium from this person's personal account."""
        payer = self.get_object()
        ser = RelativePremiumSerializer(data=request.data, context=self.get_serializer_context())
        ser.is_valid(raise_exception=True)
        enrollment, _entry = services.account_pay_relative_premium(payer=payer, actor=request.user, **ser.validated_data)
        return Response(EnrollmentSerializer(enrollment, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


class EnrollmentFilter(filters.FilterSet):
    person = filters.CharFilter(field_name="person__id_number")
    township = filters.CharFilter(field_name="person__township__code")

    class Meta:
        model = Enrollment
        fields = ["person", "township", "year", "scheme", "employee_status", "active", "waiting_period", "via"]


class EnrollmentViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """年度参保 enrolments with their payment; benefit period, waiting period and cap are computed."""

    queryset = Enrollment.objects.select_related("person").order_by("-year", "id")
    serializer_class = EnrollmentSerializer
    filterset_class = EnrollmentFilter
    read_roles = ALL_ROLES
    write_roles = CLERK
    action_roles = {"account_credits": {Role.FINANCE, Role.SUPERVISOR}}

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.enrollment_create(
            person=data.pop("person"), year=data.pop("year"), scheme=data.pop("scheme"), paid_on=data.pop("paid_on"),
            employee_status=data.pop("employee_status", "") or "", amount=data.pop("amount", None),
            contribution_base=data.pop("contribution_base", None), via=data.pop("via", "window"),
            actor=self.request.user)

    @extend_schema(request=MonthSerializer, responses=dict)
    @action(detail=False, methods=["post"], url_path="account-credits")
    def account_credits(self, request):
        """Run the monthly personal-account credit for ``{month: YYYY-MM}`` now (idempotent)."""
        ser = MonthSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        year, month = map(int, ser.validated_data["month"].split("-"))
        report = services.account_credit_month(month=date(year, month, 1), actor=request.user)
        return Response({"month": f"{year:04d}-{month:02d}", "credited": report.credited,
                         "amount": f"{report.amount:.2f}", "already": report.already,
                         "accounts_opened": report.accounts_opened})


class IdentityFilter(filters.FilterSet):
    person = filters.CharFilter(field_name="person__id_number")
    township = filters.CharFilter(field_name="person__township__code")
    valid_on = filters.DateFilter(method="filter_valid_on", label="在该日有效")

    class Meta:
        model = Identity
        fields = ["person", "township", "kind", "source"]

    def filter_valid_on(self, qs, name, value):
        return qs.filter(valid_from__lte=value).filter(Q(valid_to__isnull=True) | Q(valid_to__gte=value))


class IdentityViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """困难身份 poverty identities with their validity and source."""

    queryset = Identity.objects.select_related("person").order_by("id")
    serializer_class = IdentitySerializer
    filterset_class = IdentityFilter
    read_roles = ALL_ROLES
    write_roles = CLERK

    def perform_create(self, serializer):
        serializer.instance = services.identity_add(actor=self.request.user, **serializer.validated_data)


class OffsiteRegistrationViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """异地就医备案 off-site treatment registrations."""

    queryset = OffsiteRegistration.objects.select_related("person").order_by("-valid_from", "id")
    serializer_class = OffsiteRegistrationSerializer
    filterset_fields = ["kind", "in_province"]
    read_roles = ALL_ROLES
    write_roles = CLERK
    action_roles = {"revoke": CLERK}

    def perform_create(self, serializer):
        serializer.instance = services.offsite_register(actor=self.request.user, **serializer.validated_data)

    @extend_schema(request=None, responses=OffsiteRegistrationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Revoke from ``{on}`` (default today)."""
        reg = self.get_object()
        on = serializers.DateField().run_validation(request.data.get("on") or date.today().isoformat())
        reg = services.offsite_revoke(registration=reg, on=on, actor=request.user)
        return Response(self.get_serializer(reg).data)


class SubsidyBatchViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """资助参保批次: POST ``{region, year}`` builds (or rebuilds a draft); ``confirm`` freezes it;
    ``export`` is the XLSX for the tax bureau."""

    queryset = SubsidyBatch.objects.select_related("region", "confirmed_by").order_by("-year", "region__code")
    filterset_fields = ["year", "status"]
    read_roles = STAFF_ROLES
    write_roles = CLERK | {Role.SUPERVISOR}
    action_roles = {"confirm": {Role.SUPERVISOR}, "export": {Role.WINDOW_CLERK, Role.FINANCE, Role.SUPERVISOR}}

    def get_serializer_class(self):
        return SubsidyBatchDetailSerializer if self.action in ("retrieve", "create") else SubsidyBatchSerializer

    @transaction.atomic
    def create(self, request, *args, **kwargs):
        ser = SubsidyBatchSerializer(data=request.data, context=self.get_serializer_context())
        ser.is_valid(raise_exception=True)
        region = ser.validated_data["region"]
        if scope_queryset(type(region).objects.filter(pk=region.pk), request.user).first() is None:
            return Response({"region": [_("区划不存在。")]}, status=status.HTTP_400_BAD_REQUEST)
        batch = services.subsidy_batch_build(region=region, year=ser.validated_data["year"], actor=request.user)
        return Response(SubsidyBatchDetailSerializer(batch, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=SubsidyBatchSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        batch = services.subsidy_batch_confirm(batch=self.get_object(), actor=request.user)
        return Response(SubsidyBatchSerializer(batch, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={(200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): bytes})
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        batch = self.get_object()
        return subsidy_batch_response(batch)
