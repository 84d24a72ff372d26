"""Shared API plumbing: pagination, the error format, scoped viewsets."""
from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .inputs import MONEY_MAX
from .scoping import scope_queryset


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 1000


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
