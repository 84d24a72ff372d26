"""What members' admins share: the clerk role set, the current-identity filter, the error
messages and the service form."""
from __future__ import annotations

from datetime import date

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import ServiceFormMixin as BaseServiceFormMixin
from yibao_site.models import Role

from ..models import Identity, IdentityKind


CLERK = frozenset({Role.WINDOW_CLERK})


class CurrentIdentityFilter(admin.SimpleListFilter):
    """Persons holding an identity of a kind valid today (困难身份)."""

    title = _("困难身份(当前有效)")
    parameter_name = "identity"

    def lookups(self, request, model_admin):
        return IdentityKind.choices

    def queryset(self, request, queryset):
        if self.value() not in IdentityKind.values:
            return queryset
        today = date.today()
        # ``pk IN (holders)``: the planner can start from the identities' (kind, valid_from)
        # index for a rare kind instead of probing every person in id order.
        held = Identity.objects.filter(kind=self.value(), valid_from__lte=today).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=today)).values("person_id")
        return queryset.filter(pk__in=held)


def show_error(request, exc: ValidationError) -> None:
    for msg in getattr(exc, "messages", [str(exc)]):
        messages.error(request, msg)


class ServiceFormMixin(BaseServiceFormMixin):
    """Members' admins say how to create and how to change through the services."""

    def create_via_service(self, request, data):  # pragma: no cover - abstract
        raise NotImplementedError

    def change_via_service(self, request, obj, data):
        return None

    def save_via_service(self, request, obj, data):
        if obj is None:
            return self.create_via_service(request, data)
        return self.change_via_service(request, obj, data)

    def save_related(self, request, form, formsets, change):
        return None  # inlines are read-only; state changes go through services
