"""Persons (参保人员) with their relatives, enrolments and identities inline."""
from __future__ import annotations


from django import forms
from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminTextInputWidget

from yibao_site.admin_base import ImportExportRoles, MaskedIdAdminMixin, ScopedImportExportAdmin, township_filter

from .. import services
from ..importers import PersonImporter
from ..models import Enrollment, Identity, Person, Relative
from ..resources import PersonExportResource
from .common import CLERK, CurrentIdentityFilter, ServiceFormMixin


class PersonForm(forms.ModelForm):
    id_number = forms.CharField(label=_("公民身份号码"), max_length=18, widget=UnfoldAdminTextInputWidget)

    class Meta:
        model = Person
        fields = ["id_number", "name", "village", "phone", "household_no"]


class RelativeInline(admin.TabularInline):
    model = Relative
    fk_name = "person"
    extra = 0
    fields = ["relative", "relation"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    extra = 0
    fields = ["year", "scheme", "employee_status", "paid_on", "amount", "benefit_start", "benefit_end",
              "waiting_period", "continuous_years", "critical_illness_cap", "active"]
    readonly_fields = fields
    can_delete = False
    ordering = ["-year"]

    def has_add_permission(self, request, obj=None):
        return False


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ["kind", "valid_from", "valid_to", "source"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Person)
class PersonAdmin(ServiceFormMixin, MaskedIdAdminMixin, ImportExportRoles, ScopedImportExportAdmin):
    id_attr = "id_number"
    form = PersonForm
    list_display = ["masked_id", "name", "sex", "birth_date", "township", "village", "household_no", "id_outside_county"]
    list_filter = [township_filter("township"), CurrentIdentityFilter, "sex", "id_outside_county"]
    search_fields = ["^id_number", "^name", "=household_no"]
    list_select_related = ["township", "village"]
    autocomplete_fields = ["village"]
    inlines = [RelativeInline, EnrollmentInline, IdentityInline]
    add_roles = change_roles = CLERK
    readonly_fields = ["sex", "birth_date", "township", "id_outside_county"]

    def get_import_resource_classes(self, request):
        return [PersonImporter]

    def get_export_resource_classes(self, request):
        return [PersonExportResource]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (["id_number"] if obj else [])

    def get_fields(self, request, obj=None):
        return ["id_number", "name", "village", "phone", "household_no"] + list(self.readonly_fields)

    def get_search_results(self, request, queryset, search_term):
        # A digits search is an ID prefix (6+ chars, indexed); never a full-table LIKE.
        term = search_term.strip()
        if term[:1].isdigit():
            return (queryset.filter(id_number__startswith=term.upper()) if len(term) >= 6 else queryset.none()), False
        if not term:
            return queryset, False
        # A name prefix (``LIKE 'x%'`` on the name's pattern index; Chinese names have no case)
        # or an exact household number — never ``UPPER(…) LIKE`` over the whole table.
        return queryset.filter(Q(name__startswith=term) | Q(household_no=term)), False

    def create_via_service(self, request, data):
        return services.person_register(id_number=data["id_number"], name=data["name"],
                                        village_code=data["village"].code, phone=data.get("phone", ""),
                                        household_no=data.get("household_no", ""), actor=request.user)

    def change_via_service(self, request, obj, data):
        return services.person_update(person=obj, name=data["name"], village_code=data["village"].code,
                                      phone=data.get("phone", ""), household_no=data.get("household_no", ""),
                                      actor=request.user)
