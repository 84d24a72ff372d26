"""The claim list (import, export, 冲销) and three staff pages — manual reimbursement at the
window (手工报销), the printable settlement slip, the fund report and the published reports."""
from __future__ import annotations

from datetime import date

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources

from yibao_site.admin_base import (
    STAFF_ROLES, ImportExportRoles, MaskedIdAdminMixin, ScopedImportExportAdmin, page_context, township_filter,
)
from yibao_site.idnumbers import display_id
from yibao_site.models import Region
from yibao_site.scoping import scope_queryset
from yibao_site.xlsx import xlsx_response

from .. import reports, selectors, services
from ..importers import ClaimImporter
from ..models import Claim, ClaimSource, ClaimStatus, PersonYearLedger
from ..services import SETTLE_ROLES
from .forms import BillFormSet, ManualClaimForm
from .funds import FUND_NAMES, fund_report_charts, fund_report_sheets


class ClaimExportResource(resources.ModelResource):
    person = fields.Field(column_name="person")

    class Meta:
        model = Claim
        fields = ["id", "person", "visit_type", "hospital_level", "service_date", "admission_date", "total_cost",
                  "policy_scope_cost", "in_province", "referred", "in_region", "basic_paid", "critical_paid", "assistance_paid",
                  "second_round_paid", "out_of_pocket", "status", "source", "external_ref", "policy_version",
                  "settled_at", "disease", "diagnosis", "chronic_review"]
        export_order = fields

    def __init__(self, **kwargs):
        super().__init__()
        request = kwargs.get("request")
        self.user = kwargs.get("user") or (request.user if request is not None else None)

    def dehydrate_person(self, claim):
        return display_id(self.user, claim.person.id_number)


@admin.register(Claim)
class ClaimAdmin(MaskedIdAdminMixin, ImportExportRoles, ScopedImportExportAdmin):
    list_display = ["id", "masked_id", "person_name", "service_date", "visit_type", "hospital_level", "total_cost",
                    "basic_paid", "critical_paid", "assistance_paid", "second_round_paid", "out_of_pocket", "status",
                    "source"]
    list_filter = ["year", "visit_type", "status", "source", "hospital_level", "chronic_review",
                   township_filter("person__township")]
    search_fields = ["=person__id_number", "^person__name", "=external_ref"]
    list_select_related = ["person"]
    date_hierarchy = "service_date"
    ordering = ["-id"]
    add_roles = SETTLE_ROLES
    import_roles = SETTLE_ROLES
    actions = ["reverse_selected"]
    readonly_fields = ["person", "year", "scheme", "visit_type", "hospital_level", "in_province", "referred", "in_region",
                       "service_date", "admission_date", "total_cost", "policy_scope_cost", "basic_paid",
                       "critical_paid", "assistance_paid", "second_round_paid", "out_of_pocket",
                       "assistance_category", "platform_settled", "disease", "diagnosis", "chronic_review", "status", "source", "external_ref",
                       "policy_version", "explanation_text", "reversal_of", "created_by", "settled_at", "slip_link"]
    fields = readonly_fields

    @admin.display(description=_("姓名"))
    def person_name(self, obj):
        return obj.person.name

    @admin.display(description=_("结算说明"))
    def explanation_text(self, obj):
        return format_html_join("", "<p>{}</p>", ((line,) for line in obj.explanation.splitlines()))

    @admin.display(description=_("结算单"))
    def slip_link(self, obj):
        if obj.pk is None:
            return "-"
        return format_html('<a href="{}" target="_blank">{}</a>', reverse("admin:claims_claim_slip", args=[obj.pk]),
                           _("打印结算单"))

    def get_import_resource_classes(self, request):
        return [ClaimImporter]

    def get_export_resource_classes(self, request):
        return [ClaimExportResource]

    def add_view(self, request, form_url="", extra_context=None):
        # A claim is entered at the window through the settlement page, never as a raw row.
        return HttpResponseRedirect(reverse("admin:claims_claim_manual"))

    @admin.action(description=_("冲销所选结算单"))
    def reverse_selected(self, request, queryset):
        if not self._role_ok(request, SETTLE_ROLES):
            raise PermissionDenied
        done = 0
        for claim in queryset.filter(status=ClaimStatus.SETTLED).order_by("id"):
            try:
                services.claim_reverse(claim=claim, actor=request.user, reason=str(_("后台冲销")))
                done += 1
            except ValidationError as exc:
                for msg in exc.messages:
                    messages.error(request, f"#{claim.pk}: {msg}")
        messages.success(request, _("已冲销 %(n)s 张结算单。") % {"n": done})

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("manual/", wrap(self.manual_view), name="claims_claim_manual"),
            path("<int:pk>/slip/", wrap(self.slip_view), name="claims_claim_slip"),
            path("fund-report/", wrap(self.fund_report_view), name="claims_fund_report"),
            path("published-reports/", wrap(self.published_reports_view), name="claims_published_reports"),
        ] + super().get_urls()

    # ── 手工报销 ───────────────────────────────────────────────────────────────────────────
    def manual_view(self, request):
        """The window's manual reimbursement: enter the bills, see every tier, confirm, print."""
        if not self._role_ok(request, SETTLE_ROLES):
            raise PermissionDenied
        form = ManualClaimForm(request.POST or None, user=request.user)
        bills = BillFormSet(request.POST or None, prefix="bills")
        preview = None
        if request.method == "POST" and form.is_valid() and bills.is_valid():
            lines = [b for b in bills.cleaned_data if b and not b.get("DELETE") and b.get("total_cost") is not None]
            if not lines:
                form.add_error(None, _("请至少录入一张票据。"))
            else:
                data = form.settlement_kwargs(lines)
                try:
                    if request.POST.get("confirm") == "1":
                        claim = services.claim_settle(source=ClaimSource.MANUAL, actor=request.user,
                                                      reason=str(_("窗口手工报销")), **data)
                        messages.success(request, _("已结算,请打印结算单。"))
                        return HttpResponseRedirect(reverse("admin:claims_claim_slip", args=[claim.pk]))
                    preview = services.claim_preview(**data)
                except ValidationError as exc:
                    items = exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]
                    for field_name, msgs in items:
                        target = field_name if field_name in form.fields else None
                        for msg in msgs:
                            form.add_error(target, msg)
        context = page_context(self, request, _("手工报销"), form=form, bills=bills, preview=preview,
                               preview_lines=preview.explanation.splitlines() if preview else [])
        return TemplateResponse(request, "claims/manual.html", context)

    def slip_view(self, request, pk):
        claim = get_object_or_404(self.get_queryset(request).select_related("person", "person__township",
                                                                             "created_by"), pk=pk)
        context = {"claim": claim, "lines": claim.explanation.splitlines(), "bills": claim.breakdown.get("bills", []),
                   "masked_id": display_id(request.user, claim.person.id_number), "printed_at": timezone.now(),
                   "ledger": PersonYearLedger.objects.filter(person_id=claim.person_id, year=claim.year).first(),
                   "stay_days": (claim.service_date - claim.admission_date).days if claim.admission_date else None}
        return TemplateResponse(request, "claims/slip.html", context)

    # ── 基金运行报表 ──────────────────────────────────────────────────────────────────────
    def fund_report_view(self, request):
        if not self._role_ok(request, STAFF_ROLES):
            raise PermissionDenied
        try:
            year = int(request.GET.get("year") or timezone.localdate().year)
        except ValueError:
            year = timezone.localdate().year
        year = min(max(year, 1990), 2100)
        region = None
        if request.user.region_id and not request.user.is_superuser:
            region = request.user.region
        code = request.GET.get("region")
        if code:
            region = scope_queryset(Region.objects.filter(code=code), request.user).first() or region
        report = selectors.fund_report(year=year, region=region)
        if request.GET.get("format") == "xlsx":
            return xlsx_response(f"基金运行报表-{year}.xlsx", fund_report_sheets(report))
        context = page_context(self, request, _("基金运行报表"), report=report, year=year, region=region,
                               fund_names=FUND_NAMES, **fund_report_charts(report))
        return TemplateResponse(request, "claims/fund_report.html", context)


    # ── 公布报表 (seeds 000, 001) ────────────────────────────────────────────────────────
    def published_reports_view(self, request):
        """The reports a bureau publishes: tables, an XLSX export (``?format=xlsx``) and the
        series for a chart (``chart_series`` in the context)."""
        if not self._role_ok(request, STAFF_ROLES):
            raise PermissionDenied
        kind = request.GET.get("report") or "funds"
        if kind not in reports.REPORTS:
            kind = "funds"
        today = timezone.localdate()
        try:
            year = min(max(int(request.GET.get("year") or today.year), 1990), 2100)
        except ValueError:
            year = today.year
        through = None
        if request.GET.get("through"):
            try:
                through = date.fromisoformat(request.GET["through"])
            except ValueError:
                through = None
        region = reports.report_region(request.user, request.GET.get("region"))
        data = reports.build(kind, year=year, region=region, through=through) if region is not None else None
        if data is not None and request.GET.get("format") == "xlsx":
            return xlsx_response(f"report-{kind}-{year}.xlsx", reports.sheets(kind, data))
        context = {**self.admin_site.each_context(request), "title": _("公布报表"), "opts": self.model._meta,
                   "kinds": [(k, _(v)) for k, v in reports.REPORTS.items()], "kind": kind, "year": year,
                   "through": through, "region": region, "data": data,
                   "tables": reports.tables(kind, data) if data is not None else [],
                   "chart_series": data["chart_series"] if data is not None else []}
        return TemplateResponse(request, "claims/published_reports.html", context)
