"""Payment runs (run, review, the reports page), payment orders and hospital deductions."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import ScopedAdmin, page_context, township_filter
from yibao_site.forms import AdminStyledFormMixin
from yibao_site.xlsx import xlsx_response
from yibao_site.scoping import scope_queryset

from .. import selectors, services
from ..exports import volume_completion_sheet
from ..models import HospitalDeduction, PaymentLine, PaymentOrder, PaymentRun, RunStatus, RunTrigger
from ._base import FINANCE, ReadOnlyInline, _service_form
from .reports import ReportForm, report_charts, report_terms, settlement_sheet


class PaymentOrderInline(ReadOnlyInline):
    model = PaymentOrder
    fields = ["number", "supplier", "count", "amount"]
    readonly_fields = fields
    show_change_link = True


class HospitalDeductionInline(ReadOnlyInline):
    model = HospitalDeduction
    fields = ["hospital", "count", "amount"]
    readonly_fields = fields
    verbose_name_plural = _("医疗机构结算扣减")

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user).select_related("hospital")


class ToReviewFilter(admin.SimpleListFilter):
    title = _("复核")
    parameter_name = "to_review"

    def lookups(self, request, model_admin):
        return [("1", _("待复核")), ("0", _("已复核"))]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(pk__in=selectors.runs_to_review().values("pk"))
        if self.value() == "0":
            return queryset.filter(reviewed_at__isnull=False)
        return queryset


class RunForm(AdminStyledFormMixin, forms.Form):
    as_of = forms.DateField(label=_("结算日期"), help_text=_("支付该日及以前验收、对账通过且未支付的配送;同一日期重复执行不会重复支付。"))


@admin.register(PaymentRun)
class PaymentRunAdmin(ScopedAdmin):
    list_display = ["as_of", "status", "trigger", "count", "total_amount", "due_soon_count", "overdue_count",
                    "held_count", "attempts", "finished_at", "reviewed_by", "reviewed_at"]
    list_filter = ["status", ToReviewFilter, "trigger"]
    date_hierarchy = "as_of"
    inlines = [PaymentOrderInline, HospitalDeductionInline]
    readonly_fields = ["as_of", "status", "trigger", "started_by", "started_at", "finished_at", "attempts",
                       "last_error", "count", "total_amount", "due_soon_count", "overdue_count", "held_count",
                       "reviewed_by", "reviewed_at", "review_note"]
    actions = ["review_runs"]
    change_list_template = "procurement/paymentrun_change_list.html"

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self._role_ok(request, FINANCE):
            actions.pop("review_runs", None)
        return actions

    @admin.action(description=_("复核所选支付批次"))
    def review_runs(self, request, queryset):
        done = 0
        for run in queryset.filter(status=RunStatus.COMPLETED, reviewed_at__isnull=True).order_by("as_of"):
            services.payment_run_review(run_id=run.pk, actor=request.user, note=_("后台批量复核"))
            done += 1
        messages.success(request, _("已复核 %(n)s 个支付批次。") % {"n": done})

    def get_urls(self):
        return [
            path("run/", self.admin_site.admin_view(self.run_view), name="procurement_paymentrun_run"),
            path("reports/", self.admin_site.admin_view(self.reports_view), name="procurement_reports"),
            *super().get_urls(),
        ]

    def run_view(self, request):
        if not self._role_ok(request, FINANCE):
            raise PermissionDenied
        form = RunForm(request.POST or None, initial={"as_of": timezone.localdate()})

        def handle(data):
            run = services.payment_run_start(as_of=data["as_of"], trigger=RunTrigger.ADMIN, actor=request.user)
            return _("支付批次 %(d)s:支付 %(n)s 笔,共 %(t)s 元;临期 %(s)s,逾期 %(o)s,挂起 %(h)s。") % {
                "d": run.as_of, "n": run.count, "t": run.total_amount, "s": run.due_soon_count,
                "o": run.overdue_count, "h": run.held_count}

        return _service_form(self, request, title=_("执行支付批次"), form=form, handle=handle,
                             done_url=reverse("admin:procurement_paymentrun_changelist"))

    def reports_view(self, request):
        """直接结算统计 and 约定采购量完成情况 on one page; laggards highlighted."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        form = ReportForm(request.GET or {"period": "month", "year": today.year, "as_of": today})
        settlement = completion = None
        if form.is_valid():
            data = form.cleaned_data
            settlement = selectors.settlement_report(user=request.user, period=data["period"],
                                                     date_from=data.get("date_from"), date_to=data.get("date_to"))
            completion = selectors.volume_completion(user=request.user, year=data["year"],
                                                     as_of=data.get("as_of") or today,
                                                     laggards_only=data.get("laggards_only") or False)
            if request.GET.get("export") == "completion":
                return xlsx_response(f"volume-completion-{data['year']}.xlsx", [volume_completion_sheet(completion)])
            if request.GET.get("export") == "settlement":
                return xlsx_response(f"直接结算统计-{today:%Y%m%d}.xlsx", [settlement_sheet(settlement)])
        context = page_context(self, request, _("直接结算与约定采购量报表"), form=form, settlement=settlement,
                               completion=completion, terms=report_terms(request.user, today),
                               **report_charts(settlement, completion))
        return TemplateResponse(request, "procurement/reports.html", context)


class PaymentLineInline(ReadOnlyInline):
    model = PaymentLine
    fields = ["delivery", "hospital", "amount", "accepted_on", "due_on", "state", "paid_on", "bank_reference",
              "days_to_pay", "on_time"]
    readonly_fields = fields

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user).select_related("hospital", "delivery")


@admin.register(PaymentOrder)
class PaymentOrderAdmin(ScopedAdmin):
    list_display = ["number", "run", "supplier", "count", "amount"]
    list_filter = ["supplier"]
    list_select_related = ["run", "supplier"]
    search_fields = ["number", "supplier__code", "supplier__name"]
    readonly_fields = ["number", "run", "supplier", "count", "amount"]
    inlines = [PaymentLineInline]


@admin.register(HospitalDeduction)
class HospitalDeductionAdmin(ScopedAdmin):
    list_display = ["run", "hospital", "count", "amount"]
    list_filter = [township_filter("hospital__township")]
    list_select_related = ["run", "hospital"]
    search_fields = ["hospital__code", "hospital__name"]
    readonly_fields = ["run", "hospital", "count", "amount"]
