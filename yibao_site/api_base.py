"""Shared API plumbing: pagination, the error format, scoped viewsets."""
from __future__ import annotations

import copy
from decimal import Decimal

from django import forms as django_forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator as DjangoPaginator
from django.db import IntegrityError
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django_filters.filters import QuerySetRequestMixin
from django_filters.filterset import BaseFilterSet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers, status
from rest_framework.fields import Field, SkipField
from rest_framework.relations import ManyRelatedField, PKOnlyObject, RelatedField
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .inputs import MONEY_MAX
from .scoping import scope_queryset


# Query parameters that are never a filter's: pagination and DRF's ordering.
_NOT_FILTERS = frozenset({"page", "page_size", "ordering"})


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend without the per-request work that does not depend on the request:

    - the filter set of a view declaring only ``filterset_fields`` is built once per view class
      (django-filter builds a new ``AutoFilterSet`` class on every request);
    - the filter form class is built once per filter set and language instead of on every
      request (django-filter rebuilds every form field, choices included, each time) — only
      for filter sets whose form cannot depend on the request: no queryset filters
      (``ModelChoiceFilter``…) and no own ``get_form_class``.  Each request still gets its own
      form instance (Django deep-copies the fields per form);
    - a request naming no filter at all (a detail, a plain ``?page=3``) is not run through a
      filter set: with every value empty each filter returns the queryset as it is, so only
      filter sets where that holds are skipped (django-filter's own filter classes and
      methods, no required filter, no own form, ``filter_queryset`` or ``qs``)."""

    _forms: dict = {}
    _auto: dict = {}
    _passive: dict = {}

    def get_filterset_class(self, view, queryset=None):
        fields = getattr(view, "filterset_fields", None)
        if getattr(view, "filterset_class", None) or not fields or queryset is None:
            return super().get_filterset_class(view, queryset)
        key = (type(view), queryset.model, repr(fields))
        filterset_class = self._auto.get(key)
        if filterset_class is None:
            filterset_class = self._auto[key] = super().get_filterset_class(view, queryset)
        return filterset_class

    def filter_queryset(self, request, queryset, view):
        if _NOT_FILTERS.issuperset(request.query_params.keys()):
            filterset_class = self.get_filterset_class(view, queryset)
            if filterset_class is None or self._empty_is_noop(filterset_class):
                return queryset
        return super().filter_queryset(request, queryset, view)

    @classmethod
    def _empty_is_noop(cls, filterset_class) -> bool:
        """Whether the filter set returns its queryset unchanged when no value is given."""
        known = cls._passive.get(filterset_class)
        if known is None:
            import django_filters

            def ours(klass, *names):  # each defined by django-filter itself, not overridden
                return all(next(c for c in klass.__mro__ if n in c.__dict__).__module__.startswith("django_filters.")
                           for n in names)

            builtin = django_filters.filters.Filter.__module__
            filters_ = filterset_class.base_filters.values()
            known = cls._passive[filterset_class] = (
                ours(filterset_class, "filter_queryset", "qs", "is_valid", "form", "errors")
                and filterset_class._meta.form is django_forms.Form
                and not _NOT_FILTERS.intersection(filterset_class.base_filters)
                and all(type(f).filter.__module__ == builtin and not f.extra.get("required") for f in filters_))
        return known

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is None or type(filterset).get_form_class is not BaseFilterSet.get_form_class:
            return filterset
        if any(isinstance(f, QuerySetRequestMixin) for f in filterset.filters.values()):
            return filterset
        key = (type(filterset), get_language())
        form_class = self._forms.get(key)
        if form_class is None:
            form_class = self._forms[key] = filterset.get_form_class()
        filterset.get_form_class = lambda: form_class
        return filterset


class CachedFieldsMixin:
    """A serializer whose fields depend only on its class (not on the request, instance or
    context): built once per class and language instead of introspecting the model every
    request.  Each instance gets its own copy of every field: a plain field as a shallow copy
    (its own attributes, for ``bind`` to set, sharing the validators and messages that only
    ``__init__`` writes — DRF's deep copy re-runs ``__init__`` with deep-copied arguments, most
    of a small serializer's cost), a field holding another (a nested serializer, a list's
    ``child``, a many-relation's ``child_relation``, which ``__init__`` binds to it) as DRF's
    deep copy."""

    _field_protos: dict = {}

    def get_fields(self):
        key = (type(self), get_language())
        proto = CachedFieldsMixin._field_protos.get(key)
        if proto is None:
            proto = CachedFieldsMixin._field_protos[key] = super().get_fields()
        return {name: _field_copy(field) for name, field in proto.items()}


def _field_copy(field):
    if (isinstance(field, serializers.BaseSerializer) or type(field).__deepcopy__ is not Field.__deepcopy__
            or hasattr(field, "child") or hasattr(field, "child_relation")):
        return copy.deepcopy(field)
    new = object.__new__(type(field))
    new.__dict__.update(field.__dict__)
    return new


class FastRepresentationMixin:
    """``to_representation`` with DRF's per-field, per-row machinery cut short: a plain
    attribute field (not a relation, not ``source="*"``, no own ``get_attribute``) is read by
    ``getattr`` along its source and handed to the field's own ``to_representation``; any other
    field, and any irregular value on the way (``None`` before the end, a callable, a mapping),
    goes through DRF's ``get_attribute`` exactly as before.  Same output, about half the cost
    for a page of rows."""

    def _fast_plan(self):
        plan = self.__dict__.get("_fast_plan_cache")
        if plan is None:
            plan = []
            for field in self._readable_fields:
                simple = (not isinstance(field, (serializers.BaseSerializer, RelatedField, ManyRelatedField))
                          and field.source != "*" and type(field).get_attribute is Field.get_attribute)
                plan.append((field.field_name, tuple(field.source_attrs) if simple else None, field))
            self.__dict__["_fast_plan_cache"] = plan
        return plan

    def to_representation(self, instance):
        ret = {}
        for name, attrs, field in self._fast_plan():
            attribute = instance
            if attrs is not None:
                for attr in attrs:
                    if attribute is None or isinstance(attribute, dict):
                        attrs = None
                        break
                    attribute = getattr(attribute, attr, _MISSING)
                    if attribute is _MISSING or callable(attribute):
                        attrs = None
                        break
            if attrs is None:
                try:
                    attribute = field.get_attribute(instance)
                except SkipField:
                    continue
                check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            else:
                check = attribute
            ret[name] = None if check is None else field.to_representation(attribute)
        return ret


_MISSING = object()


class ShortPageCountedPaginator(DjangoPaginator):
    """Django's paginator reading the page's rows first: a page with fewer rows than the page
    size (a small filtered list, the last page) is counted from them — its offset plus its rows —
    with no ``COUNT(*)``; a full page, or an empty one past the first, is counted as before (and
    a page past the end is still refused)."""

    def page(self, number):
        try:
            n = int(number)
        except (TypeError, ValueError):
            return super().page(number)
        if n < 1 or self.orphans or "count" in self.__dict__:
            return super().page(number)
        bottom = (n - 1) * self.per_page
        rows = list(self.object_list[bottom:bottom + self.per_page])
        if len(rows) < self.per_page and (rows or n == 1):
            self.__dict__["count"] = bottom + len(rows)  # Paginator.count is a cached property
        self.validate_number(n)  # counts a full or empty page; past the end: EmptyPage as before
        return self._get_page(rows, n, self)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000
    django_paginator_class = ShortPageCountedPaginator


def django_error_to_drf(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        detail = {
            ("detail" if field in ("__all__", None) else field): [str(m) for e in errors for m in e.messages]
            for field, errors in exc.error_dict.items()
        }
        return ValidationError(detail)
    return ValidationError({"detail": [str(m) for m in exc.messages]})


def exception_handler(exc, context):
    """Turn domain errors into 400s in API.md's format; everything else as DRF does."""
    if isinstance(exc, DjangoValidationError):
        exc = django_error_to_drf(exc)
    elif isinstance(exc, IntegrityError):
        exc = ValidationError({"detail": [_("数据与已有记录冲突(重复或被引用),未作任何修改。")]})
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        response.data = {"detail": response.data}
    return response


class ScopedQuerysetMixin:
    """Narrow ``get_queryset`` to the caller's township scope (scoping.py)."""

    def get_queryset(self):
        return scope_queryset(super().get_queryset(), self.request.user)


class StrictDecimalField(serializers.DecimalField):
    """A decimal as a string only: a JSON number is refused with a message saying so
    (API.md: "never floats"); full-width digits arrive already normalised by the parser."""

    def __init__(self, max_digits, decimal_places, **kwargs):
        if decimal_places == 2 and kwargs.get("max_value") is None and not kwargs.get("read_only"):
            kwargs["max_value"] = MONEY_MAX  # every amount in yuan: ledger sums must fit
        super().__init__(max_digits, decimal_places, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, (bool, int, float)):
            self.fail("number_not_allowed")
        return super().to_internal_value(data)

    default_error_messages = {
        "number_not_allowed": _lazy("请用字符串表示的小数,如 \"1234.50\",不接受 JSON 数字。"),
    }


class MoneyField(StrictDecimalField):
    """Yuan with two places, as a string ("1234.50"), at most ``inputs.MONEY_MAX``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("coerce_to_string", True)
        if not kwargs.get("read_only"):
            kwargs.setdefault("min_value", Decimal("0"))
        super().__init__(**kwargs)


def error_response(detail, code=status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"detail": detail} if isinstance(detail, str) else detail, status=code)


# --- Compiled statements of a read, kept per database connection ------------------------------

_STATEMENTS_MAX = 512


def _statements(connection) -> dict:
    """This connection's compiled statements (a connection serves one thread: the converters
    kept with a statement are its own backend's)."""
    found = connection.__dict__.get("_yibao_statements")
    if found is None or len(found) > _STATEMENTS_MAX:
        found = connection.__dict__["_yibao_statements"] = {}
    return found


class _Compiled:
    """A ``values_list`` queryset's SQL, parameters and result converters, compiled once."""

    __slots__ = ("sql", "params", "converters", "compiler", "slot")

    def __init__(self, queryset, slot_value=None):
        compiler = queryset.query.get_compiler(using=queryset.db)
        self.sql, params = compiler.as_sql()
        self.params = list(params)
        fields = [s[0] for s in compiler.select[0:compiler.col_count]]
        self.converters = compiler.get_converters(fields)
        self.compiler = compiler
        self.slot = None
        if slot_value is not None:
            at = [k for k, p in enumerate(self.params) if p == slot_value]
            if len(at) != 1:
                raise ValueError("the looked-up value must be one parameter of the statement")
            self.slot = at[0]

    def rows(self, connection, suffix: str = "", value=None) -> list[tuple]:
        params = self.params
        if self.slot is not None:
            params = list(params)
            params[self.slot] = value
        with connection.cursor() as cursor:
            cursor.execute(self.sql + suffix, params)
            rows = cursor.fetchall()
        if self.converters:
            rows = list(map(tuple, self.compiler.apply_converters(rows, self.converters)))
        return rows


class _Recorded:
    """The one statement a call runs (a ``count()``), recorded to be run again as it is."""

    __slots__ = ("sql", "params", "first")

    def __init__(self, connection, call):
        seen = []

        def record(execute, sql, params, many, context):
            seen.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            self.first = call()
        if len(seen) != 1:
            raise ValueError("expected one statement")
        self.sql, self.params = seen[0]

    def value(self, connection):
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            return cursor.fetchone()[0]


class ReplayedPage:
    """A list's page rows and count for :class:`~rest_framework.pagination.PageNumberPagination`,
    from statements compiled once per ``key`` on this connection: the same SQL, parameters and
    converters the ORM would build for the same queryset, without building and compiling it on
    every request.  ``key`` must name everything the queryset depends on (the caller's scope,
    no filter or ordering parameter); ``build()`` returns ``(rows_queryset, counted_queryset)``
    and is called only when the key is new on this connection."""

    def __init__(self, connection, key, build):
        cache = _statements(connection)
        found = cache.get(key)
        self._counted = None
        if found is None:
            rows, counted = build()
            found = cache[key] = (_Compiled(rows), _Recorded(connection, counted.count))
            self._counted = found[1].first  # counted while recording
        self.connection = connection
        self._rows, self._count = found

    ordered = True  # the compiled queryset was ordered (the caller's)

    def count(self) -> int:
        if self._counted is not None:
            return self._counted
        return self._count.value(self.connection)

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step is not None:
            raise TypeError("a page is read by a slice")
        start, stop = key.start or 0, key.stop
        if stop is not None and stop <= start:
            return []
        return self._rows.rows(self.connection, " " + self.connection.ops.limit_offset_sql(start, stop))


def replayed_lookup(connection, key, build, value):
    """The rows of ``build(value)`` (a ``values_list`` queryset filtered by ``value`` and sliced as
    ``get()`` slices it) from its statement compiled once per ``key`` on this connection, with
    ``value`` as the parameter: what the ORM would read."""
    cache = _statements(connection)
    found = cache.get(key)
    if found is None:
        found = cache[key] = _Compiled(build(_SLOT), slot_value=_SLOT)
    return found.rows(connection, value=value)


_SLOT = "\x00yibao-lookup-slot\x00"  # compiled, never sent: no parameter of a statement is this
