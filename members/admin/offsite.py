"""Off-site treatment registrations (异地就医备案)."""
from __future__ import annotations

from datetime import date

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import ScopedAdmin, township_filter
from yibao_site.models import Role

from .. import services
from ..models import OffsiteRegistration
from .common import CLERK, ServiceFormMixin, show_error


@admin.register(OffsiteRegistration)
class OffsiteRegistrationAdmin(ServiceFormMixin, ScopedAdmin):
    list_display = ["person", "kind", "destination", "in_province", "hospital", "valid_from", "valid_to", "revoked_on"]
    list_filter = ["kind", "in_province", township_filter("person__township")]
    search_fields = ["=person__id_number", "destination", "hospital"]
    list_select_related = ["person"]
    autocomplete_fields = ["person"]
    fields = ["person", "kind", "destination", "in_province", "hospital", "valid_from", "valid_to", "revoked_on"]
    readonly_fields = ["revoked_on"]
    add_roles = CLERK
    actions = ["revoke_today"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj else self.readonly_fields

    def create_via_service(self, request, data):
        return services.offsite_register(person=data["person"], kind=data["kind"], destination=data["destination"],
                                         in_province=data.get("in_province", True), hospital=data.get("hospital", ""),
                                         valid_from=data["valid_from"], valid_to=data["valid_to"], actor=request.user)

    @admin.action(description=_("自今日起撤销所选备案"))
    def revoke_today(self, request, queryset):
        if not request.user.has_role(Role.WINDOW_CLERK):
            raise PermissionDenied
        for reg in queryset.filter(revoked_on__isnull=True):
            try:
                services.offsite_revoke(registration=reg, on=date.today(), actor=request.user)
            except ValidationError as exc:
                show_error(request, exc)
