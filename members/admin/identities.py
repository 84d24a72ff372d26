"""Poverty identities (困难身份), the departments' monthly lists and assistance entitlements."""
from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import (
    STAFF_ROLES, ImportExportRoles, MaskedIdAdminMixin, ScopedAdmin, ScopedImportExportAdmin, township_filter,
)
from yibao_site.forms import AdminStyledFormMixin
from yibao_site.imports import read_table
from yibao_site.models import Role

from .. import services
from ..importers import IdentityImporter, identity_list_rows
from ..models import AssistanceEntitlement, Identity, IdentityImport, IdentitySource
from ..resources import IdentityExportResource
from .common import CLERK, ServiceFormMixin, show_error


@admin.register(Identity)
class IdentityAdmin(ServiceFormMixin, MaskedIdAdminMixin, ImportExportRoles, ScopedImportExportAdmin):
    list_display = ["masked_id", "person_name", "kind", "valid_from", "valid_to", "source"]
    list_filter = ["kind", "source", township_filter("person__township")]
    search_fields = ["=person__id_number", "^person__name"]
    list_select_related = ["person"]
    autocomplete_fields = ["person"]
    add_roles = CLERK
    actions = ["end_yesterday"]

    @admin.display(description=_("姓名"))
    def person_name(self, obj):
        return obj.person.name

    def get_import_resource_classes(self, request):
        return [IdentityImporter]

    def get_export_resource_classes(self, request):
        return [IdentityExportResource]

    def get_readonly_fields(self, request, obj=None):
        return ["person", "kind", "valid_from", "valid_to", "source"] if obj else []

    def create_via_service(self, request, data):
        return services.identity_add(person=data["person"], kind=data["kind"], valid_from=data["valid_from"],
                                     valid_to=data.get("valid_to"), source=data["source"], actor=request.user)

    @admin.action(description=_("终止所选身份(有效期止为昨天)"))
    def end_yesterday(self, request, queryset):
        if not request.user.has_role(Role.WINDOW_CLERK):
            raise PermissionDenied
        end = date.fromordinal(date.today().toordinal() - 1)
        done = 0
        for ident in queryset.filter(valid_to__isnull=True):
            try:
                services.identity_end(identity=ident, valid_to=end, actor=request.user)
                done += 1
            except ValidationError as exc:
                show_error(request, exc)
        messages.success(request, _("已终止 %(n)s 条身份。") % {"n": done})


class IdentityListForm(AdminStyledFormMixin, forms.Form):
    source = forms.ChoiceField(label=_("来源部门"), choices=IdentitySource.choices)
    as_of = forms.DateField(label=_("名单日期"), initial=date.today)
    file = forms.FileField(label=_("名单文件(CSV 或 XLSX)"))
    dry_run = forms.BooleanField(label=_("仅比对,不写入"), required=False, initial=True)


@admin.register(IdentityImport)
class IdentityImportAdmin(ScopedAdmin):
    """Monthly department lists: upload, compare, apply (身份名单月度比对)."""

    list_display = ["source", "as_of", "file_name", "new_count", "changed_count", "ended_count", "unchanged_count",
                    "created_by", "created_at"]
    list_filter = ["source"]
    readonly_fields = list_display + ["report"]
    view_roles = STAFF_ROLES

    def get_urls(self):
        return [path("upload/", self.admin_site.admin_view(self.upload_view), name="members_identityimport_upload")] \
            + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "upload_url": reverse("admin:members_identityimport_upload")}
        return super().changelist_view(request, extra_context)

    def upload_view(self, request):
        if not request.user.has_role(Role.WINDOW_CLERK, Role.SUPERVISOR):
            raise PermissionDenied
        form = IdentityListForm(request.POST or None, request.FILES or None)
        report = errors = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                rows, errors = identity_list_rows(read_table(upload.read(), filename=upload.name))
            except ValidationError as exc:
                rows, errors = [], []
                show_error(request, exc)
            if rows and not errors:
                report = services.identity_list_apply(
                    source=form.cleaned_data["source"], as_of=form.cleaned_data["as_of"], rows=rows,
                    file_name=upload.name, dry_run=form.cleaned_data["dry_run"], actor=request.user)
                errors = [f"第 {line} 行:{'; '.join(msgs)}" for line, msgs in sorted(report.errors.items())]
                if not errors and not form.cleaned_data["dry_run"]:
                    messages.success(request, _("已应用:新增 %(n)s,变更 %(c)s,终止 %(e)s,未变 %(u)s。") % {
                        "n": len(report.new), "c": len(report.changed), "e": len(report.ended), "u": report.unchanged})
            else:
                errors = [str(e) for e in errors]
        context = {**self.admin_site.each_context(request), "form": form, "report": report, "errors": errors,
                   "title": _("导入部门身份名单"), "opts": self.model._meta}
        return TemplateResponse(request, "members/identity_list_upload.html", context)


@admin.register(AssistanceEntitlement)
class AssistanceEntitlementAdmin(ScopedAdmin):
    list_display = ["person", "kind", "category", "valid_from", "valid_to", "application_id", "revoked_on"]
    list_filter = ["kind", "category", township_filter("person__township")]
    search_fields = ["=person__id_number"]
    list_select_related = ["person"]
    readonly_fields = list_display
