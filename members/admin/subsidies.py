"""Subsidy batches (资助参保批次): build, rebuild, confirm, export for the tax bureau."""
from __future__ import annotations


from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import ScopedAdmin
from yibao_site.models import Role

from .. import services
from ..exports import subsidy_batch_response
from ..models import BatchStatus, SubsidyBatch
from ..selectors import subsidy_batch_totals
from .common import CLERK, ServiceFormMixin, show_error


class SubsidyBatchForm(forms.ModelForm):
    class Meta:
        model = SubsidyBatch
        fields = ["region", "year"]


@admin.register(SubsidyBatch)
class SubsidyBatchAdmin(ServiceFormMixin, ScopedAdmin):
    form = SubsidyBatchForm
    list_display = ["region", "year", "status", "count", "total_amount", "built_at", "confirmed_by", "confirmed_at"]
    list_filter = ["year", "status"]
    list_select_related = ["region", "confirmed_by"]
    autocomplete_fields = ["region"]
    readonly_fields = ["status", "count", "total_amount", "policy_version", "built_at", "built_by", "confirmed_at",
                       "confirmed_by", "totals"]
    add_roles = CLERK | {Role.SUPERVISOR}
    actions = ["rebuild", "confirm", "export_xlsx"]

    def get_readonly_fields(self, request, obj=None):
        return ["region", "year"] + self.readonly_fields if obj else []

    @admin.display(description=_("汇总"))
    def totals(self, obj):
        t = subsidy_batch_totals(obj)
        kinds = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                                 ((row["kind"], row["count"], row["amount"]) for row in t["by_kind"]))
        towns = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                                 ((row["township__name"], row["count"], row["amount"]) for row in t["by_township"]))
        return format_html("<table>{}</table><br><table>{}</table>", kinds, towns)

    def create_via_service(self, request, data):
        return services.subsidy_batch_build(region=data["region"], year=data["year"], actor=request.user)

    @admin.action(description=_("重新生成名单(仅草稿)"))
    def rebuild(self, request, queryset):
        if not request.user.has_role(Role.WINDOW_CLERK, Role.SUPERVISOR):
            raise PermissionDenied
        for batch in queryset.select_related("region"):
            try:
                services.subsidy_batch_build(region=batch.region, year=batch.year, actor=request.user)
                messages.success(request, _("%(b)s 已重新生成。") % {"b": batch})
            except ValidationError as exc:
                show_error(request, exc)

    @admin.action(description=_("确认并冻结(管理员)"))
    def confirm(self, request, queryset):
        for batch in queryset.filter(status=BatchStatus.DRAFT):
            try:
                services.subsidy_batch_confirm(batch=batch, actor=request.user)
                messages.success(request, _("%(b)s 已确认。") % {"b": batch})
            except (ValidationError, PermissionDenied) as exc:
                messages.error(request, str(exc) if isinstance(exc, PermissionDenied) else "; ".join(exc.messages))

    @admin.action(description=_("导出税务征收名单(XLSX)"))
    def export_xlsx(self, request, queryset):
        if not request.user.has_role(Role.WINDOW_CLERK, Role.FINANCE, Role.SUPERVISOR):
            raise PermissionDenied
        batch = queryset.select_related("region").first()
        if batch is None:
            return None
        return subsidy_batch_response(batch)
