"""Enrolments (年度参保) and students' lump sums (学生趸缴)."""
from __future__ import annotations

import logging

from celery import current_app

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import (
    ImportExportRoles, MaskedIdAdminMixin, ScopedAdmin, ScopedImportExportAdmin, township_filter,
)
from yibao_site.models import Role

from .. import services
from ..importers import EnrollmentImporter
from ..models import Enrollment, StudentLumpSum
from ..resources import EnrollmentExportResource
from .common import CLERK, ServiceFormMixin

log = logging.getLogger(__name__)


class EnrollmentForm(forms.ModelForm):
    class Meta:
        model = Enrollment
        fields = ["person", "year", "scheme", "employee_status", "paid_on", "amount", "contribution_base", "via"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "amount" in self.fields:
            self.fields["amount"].required = False
            self.fields["amount"].help_text = _("留空则按政策应缴金额。")


@admin.register(Enrollment)
class EnrollmentAdmin(ServiceFormMixin, MaskedIdAdminMixin, ImportExportRoles, ScopedImportExportAdmin):
    form = EnrollmentForm
    list_display = ["masked_id", "person_name", "year", "scheme", "employee_status", "paid_on", "amount",
                    "benefit_start", "benefit_end", "waiting_period", "continuous_years", "critical_illness_cap",
                    "active", "via"]
    list_filter = ["year", "scheme", "employee_status", "waiting_period", "active", "via",
                   township_filter("person__township")]
    search_fields = ["=person__id_number", "^person__name"]
    list_select_related = ["person"]
    autocomplete_fields = ["person"]
    readonly_fields = ["benefit_start", "benefit_end", "waiting_period", "continuous_years", "break_years", "newborn",
                       "critical_illness_cap", "subsidy_amount", "active", "policy_version"]
    add_roles = CLERK
    actions = ["refresh_caps"]

    @admin.display(description=_("姓名"))
    def person_name(self, obj):
        return obj.person.name

    def get_import_resource_classes(self, request):
        return [EnrollmentImporter]

    def get_export_resource_classes(self, request):
        return [EnrollmentExportResource]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return list(EnrollmentForm.Meta.fields) + self.readonly_fields
        return self.readonly_fields

    def create_via_service(self, request, data):
        return services.enrollment_create(
            person=data["person"], year=data["year"], scheme=data["scheme"], paid_on=data["paid_on"],
            employee_status=data.get("employee_status") or "", amount=data.get("amount"),
            contribution_base=data.get("contribution_base"), via=data.get("via") or "window", actor=request.user)

    @admin.action(description=_("重算所选年度的大病保险封顶线"))
    def refresh_caps(self, request, queryset):
        if not request.user.has_role(Role.SUPERVISOR):
            raise PermissionDenied
        # The refresh re-settles the person-years already settled under a cap it changes, which
        # only claims can do: the action queues the scheduled job (registered by claims/tasks.py)
        # for each selected year, once this request's transaction commits.
        for year in sorted(set(queryset.values_list("year", flat=True))):
            transaction.on_commit(lambda year=year: caps_refresh_queue(year))
            log.info("caps refresh of %s queued by %s", year, request.user.pk)
            messages.success(request, _("%(year)s 年度的封顶线重算已提交后台执行;封顶线有变化的已结算年度将按新封顶线重新结算。")
                             % {"year": year})


CAPS_REFRESH_TASK = "members.enrollment_caps_refresh"


def caps_refresh_queue(year: int) -> None:
    """Queue the caps refresh of ``year`` (by name if this process never loaded the task)."""
    task = current_app.tasks.get(CAPS_REFRESH_TASK)
    if task is not None:
        task.apply_async(kwargs={"year": year})
    else:
        current_app.send_task(CAPS_REFRESH_TASK, kwargs={"year": year})


@admin.register(StudentLumpSum)
class StudentLumpSumAdmin(ServiceFormMixin, ScopedAdmin):
    list_display = ["person", "school", "first_year", "years", "yearly_amount", "total_amount", "paid_on"]
    list_filter = ["first_year", township_filter("person__township")]
    search_fields = ["=person__id_number", "school"]
    autocomplete_fields = ["person"]
    fields = ["person", "school", "first_year", "years", "paid_on", "yearly_amount", "total_amount"]
    readonly_fields = ["yearly_amount", "total_amount"]
    add_roles = CLERK

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj else self.readonly_fields

    def create_via_service(self, request, data):
        return services.student_lump_sum_create(person=data["person"], school=data["school"],
                                                first_year=data["first_year"], years=data["years"],
                                                paid_on=data["paid_on"], actor=request.user)
