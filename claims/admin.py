"""Admin of claims: the claim list (import, export, 冲销), year ledgers, fund entries, and three
staff pages — manual reimbursement at the window (手工报销), the printable settlement slip and
the fund report."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import formset_factory
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources

from members.models import Person
from yibao_site.idnumbers import display_id
from yibao_site.idnumbers import normalise_id_number
from yibao_site.admin_base import (
    STAFF_ROLES, ImportExportRoles, MaskedIdAdminMixin, ScopedAdmin, ScopedImportExportAdmin, page_context, township_filter,
)
from yibao_site.charts import chart
from yibao_site.forms import AdminStyledFormMixin
from yibao_site.models import Region, Role
from yibao_site.scoping import scope_queryset
from yibao_site.xlsx import Sheet, xlsx_response

from . import selectors, services
from .importers import ClaimImporter
from .models import (CashStatus, Claim, ClaimSource, ClaimStatus, FundEntry, LedgerCheck, LedgerEntry,
                     PersonYearLedger, VisitType)

SETTLE_ROLES = frozenset({Role.WINDOW_CLERK, Role.SUPERVISOR})
FINANCE_ROLES = frozenset({Role.FINANCE, Role.SUPERVISOR})


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
        from django.utils.html import format_html_join

        return format_html_join("", "<p>{}</p>", ((line,) for line in obj.explanation.splitlines()))

    @admin.display(description=_("结算单"))
    def slip_link(self, obj):
        from django.utils.html import format_html

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
        from django.http import HttpResponse

        from . import reports

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
        region = report_region(request.user, request.GET.get("region"))
        data = reports.build(kind, year=year, region=region, through=through) if region is not None else None
        if data is not None and request.GET.get("format") == "xlsx":
            response = HttpResponse(reports.xlsx(kind, data), content_type=(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
            response["Content-Disposition"] = f'attachment; filename="report-{kind}-{year}.xlsx"'
            return response
        context = {**self.admin_site.each_context(request), "title": _("公布报表"), "opts": self.model._meta,
                   "kinds": [(k, _(v)) for k, v in reports.REPORTS.items()], "kind": kind, "year": year,
                   "through": through, "region": region, "data": data,
                   "tables": reports.tables(kind, data) if data is not None else [],
                   "chart_series": data["chart_series"] if data is not None else []}
        return TemplateResponse(request, "claims/published_reports.html", context)


def report_region(user, code: str | None):
    """The region a report covers: the one asked for if the user may see it, else the user's
    own region, else the (first) city."""
    from yibao_site.models import RegionLevel

    if code:
        found = scope_queryset(Region.objects.filter(code=code), user).first()
        if found is not None:
            return found
    if user.region_id and not user.is_superuser:
        return user.region
    return Region.objects.filter(level=RegionLevel.CITY).order_by("code").first()


FUND_NAMES = {"employee": _("职工医保统筹基金(含生育)"), "resident": _("城乡居民医保基金"),
              "assistance": _("医疗救助基金")}


def fund_report_charts(report) -> dict:
    """The fund report's charts: monthly expense by tier (stacked) and balance by fund."""
    months = [m["month"] for m in report["months"]]
    tiers = [(_("基本医保"), "basic_paid"), (_("大病保险"), "critical_paid"), (_("医疗救助"), "assistance_paid"),
             (_("再救助/倾斜救助"), "second_round_paid")]
    monthly = chart("bar", months, [(label, [m[key] for m in report["months"]]) for label, key in tiers],
                    title=_("按月、按待遇段支出(元)"), stacked=True)
    funds = [FUND_NAMES.get(f["fund"], f["fund"]) for f in report["funds"]]
    balance = chart("bar", funds, [(_("本年收入"), [f["income_total"] for f in report["funds"]]),
                                   (_("本年支出"), [f["expense"] for f in report["funds"]]),
                                   (_("累计结余"), [f["accumulated_balance"] for f in report["funds"]])],
                    title=_("基金收支与结余(元)"))
    return {"monthly_chart": monthly, "balance_chart": balance}


def fund_report_sheets(report) -> list[Sheet]:
    funds = Sheet(_("基金收支"), [_("基金"), _("本年收入"), _("结算支出"), _("其他支出"), _("当期结余"), _("累计结余"),
                                _("月均支出"), _("可支付月数")], money_columns={1, 2, 3, 4, 5, 6})
    for f in report["funds"]:
        funds.rows.append([FUND_NAMES.get(f["fund"], f["fund"]), f["income_total"], f["claims_expense"],
                           f["other_expense"], f["current_balance"], f["accumulated_balance"],
                           f["average_monthly_expense"], f["months_of_capacity"]])
    months = Sheet(_("按月支出"), [_("月份"), _("基本医保"), _("大病保险"), _("医疗救助"), _("再救助/倾斜救助"),
                                _("职工基金"), _("居民基金"), _("救助基金")], money_columns={1, 2, 3, 4, 5, 6, 7})
    for m in report["months"]:
        months.rows.append([m["month"], m["basic_paid"], m["critical_paid"], m["assistance_paid"],
                            m["second_round_paid"], m["funds"]["employee"], m["funds"]["resident"],
                            m["funds"]["assistance"]])
    return [funds, months]


class ManualClaimForm(AdminStyledFormMixin, forms.Form):
    person = forms.CharField(label=_("公民身份号码"), max_length=18)
    visit_type = forms.ChoiceField(label=_("就诊类型"), choices=VisitType.choices)
    hospital_level = forms.TypedChoiceField(label=_("医院级别"), coerce=int,
                                            choices=[(1, _("一级")), (2, _("二级")), (3, _("三级"))])
    service_date = forms.DateField(label=_("就诊(出院)日期"), widget=forms.DateInput(attrs={"type": "date"}))
    admission_date = forms.DateField(label=_("入院日期"), required=False,
                                     widget=forms.DateInput(attrs={"type": "date"}))
    in_province = forms.BooleanField(label=_("省内就医"), required=False, initial=True)
    referred = forms.BooleanField(label=_("规范转诊"), required=False)
    disease = forms.CharField(label=_("慢特病病种编码"), max_length=20, required=False,
                              help_text=_("门诊慢特病填写目录中的病种编码;未认定的病种不享受慢特病待遇。"))
    diagnosis = forms.CharField(label=_("诊断编码(ICD-10)"), max_length=16, required=False,
                                help_text=_("两病(高血压、糖尿病)门诊用药按诊断编码享受两病报销比例。"))
    in_region = forms.BooleanField(label=_("统筹区内就医"), required=False, initial=True,
                                   help_text=_("在本市(统筹区)内就医;统筹区外就医未转诊且无有效异地就医备案的,不予医疗救助"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_person(self):
        idn = normalise_id_number(self.cleaned_data["person"])
        person = scope_queryset(Person.objects.filter(id_number=idn), self.user).first()
        if person is None:
            raise forms.ValidationError(_("参保人不存在或不在您的辖区。"))
        return person

    def settlement_kwargs(self, lines) -> dict:
        total = sum((b["total_cost"] for b in lines), Decimal("0.00"))
        scope = sum((b["policy_scope_cost"] for b in lines), Decimal("0.00"))
        d = self.cleaned_data
        return {"person": d["person"], "visit_type": d["visit_type"], "hospital_level": d["hospital_level"],
                "service_date": d["service_date"], "admission_date": d.get("admission_date"),
                "in_province": d["in_province"], "referred": d["referred"], "in_region": d["in_region"],
                "total_cost": total,
                "policy_scope_cost": scope, "disease": d.get("disease", ""), "diagnosis": d.get("diagnosis", ""),
                "bills": [{"number": b.get("number", ""), "total_cost": f"{b['total_cost']:.2f}",
                           "policy_scope_cost": f"{b['policy_scope_cost']:.2f}"} for b in lines]}


class BillForm(AdminStyledFormMixin, forms.Form):
    number = forms.CharField(label=_("票据号"), max_length=40, required=False)
    total_cost = forms.DecimalField(label=_("医疗总费用"), max_digits=14, decimal_places=2, min_value=0, required=False)
    policy_scope_cost = forms.DecimalField(label=_("政策范围内费用"), max_digits=14, decimal_places=2, min_value=0,
                                           required=False)

    def clean(self):
        data = super().clean()
        total, scope = data.get("total_cost"), data.get("policy_scope_cost")
        if (total is None) != (scope is None):
            raise forms.ValidationError(_("请同时填写总费用和政策范围内费用。"))
        if total is not None and scope is not None and scope > total:
            raise forms.ValidationError(_("政策范围内费用不能超过医疗总费用。"))
        return data


BillFormSet = formset_factory(BillForm, extra=3, max_num=30, validate_max=True)


@admin.register(PersonYearLedger)
class PersonYearLedgerAdmin(MaskedIdAdminMixin, ScopedAdmin):
    list_display = ["masked_id", "person_name", "year", "claims_count", "total_cost", "basic_total", "critical_paid",
                    "assistance_paid", "second_round_paid", "out_of_pocket"]
    list_filter = ["year", township_filter("person__township")]
    search_fields = ["=person__id_number", "^person__name"]
    list_select_related = ["person"]
    ordering = ["-year", "person_id"]

    def get_fields(self, request, obj=None):
        return ["person", "year", "claims_count", *[f.name for f in self.model._meta.fields
                                                    if f.name not in ("id", "person", "year", "claims_count")]]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description=_("姓名"))
    def person_name(self, obj):
        return obj.person.name

    @admin.display(description=_("基本医保支付累计"))
    def basic_total(self, obj):
        return obj.basic_paid

    def get_urls(self):
        return [path("<int:pk>/resettle/", self.admin_site.admin_view(self.resettle_view),
                     name="claims_personyearledger_resettle"), *super().get_urls()]

    def resettle_view(self, request, pk):
        """重新结算: preview the adjustments the facts known now call for, then confirm."""
        if request.user.role not in (Role.REVIEWER, Role.SUPERVISOR) and not request.user.is_superuser:
            raise PermissionDenied
        ledger = get_object_or_404(scope_queryset(PersonYearLedger.objects.select_related("person"), request.user),
                                   pk=pk)
        confirm = request.method == "POST" and request.POST.get("confirm") == "1"
        try:
            result = services.ledger_resettle(person=ledger.person, year=ledger.year, confirm=confirm,
                                              actor=request.user, reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
            return HttpResponseRedirect(reverse("admin:claims_personyearledger_change", args=[pk]))
        if confirm:
            messages.success(request, _("已重新结算,写入 %(n)s 条调整分录。") % {"n": len(result.entries)})
        context = {**self.admin_site.each_context(request), "title": _("重新结算个人年度台账"), "ledger": ledger,
                   "entries": result.entries, "confirmed": result.confirmed, "opts": self.model._meta}
        return TemplateResponse(request, "claims/resettle.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "resettle_url": reverse(
            "admin:claims_personyearledger_resettle", args=[object_id])}
        return super().change_view(request, object_id, form_url, extra_context)


class SettleCashForm(forms.Form):
    reference = forms.CharField(label=_("支付或追回凭证号"), max_length=60)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(MaskedIdAdminMixin, ScopedAdmin):
    """台账分录: one-time payments and adjustments; finance works the 应补付 / 应追回 lists
    (money owed back is listed as such, never netted against what is owed out)."""

    list_display = ["at", "masked_id", "year", "kind", "claim", "basic", "critical", "assistance", "second_round",
                    "cash_status", "cash_reference", "reason"]
    list_filter = ["cash_status", "kind", "year", township_filter("person__township")]
    search_fields = ["=person__id_number", "=batch"]
    list_select_related = ["person"]
    ordering = ["-at", "-id"]
    view_roles = STAFF_ROLES
    actions = ["settle_cash"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("登记已补付/已追回(需凭证号)"))
    def settle_cash(self, request, queryset):
        if "reference" in request.POST:
            form = SettleCashForm(request.POST)
            if form.is_valid():
                try:
                    n = services.ledger_entries_settle(entry_ids=list(queryset.values_list("pk", flat=True)),
                                                       reference=form.cleaned_data["reference"], actor=request.user)
                except (PermissionDenied, ValidationError) as exc:
                    messages.error(request, str(getattr(exc, "messages", [exc])[0]))
                    return None
                messages.success(request, _("已登记 %(n)s 条。") % {"n": n})
                return None
        else:
            form = SettleCashForm()
        context = {**self.admin_site.each_context(request), "title": _("登记已补付/已追回"), "form": form,
                   "queryset": queryset.filter(cash_status__in=[CashStatus.TO_PAY, CashStatus.TO_RECOVER]),
                   "opts": self.model._meta, "action": "settle_cash",
                   "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "claims/settle_cash.html", context)


class FundEntryForm(forms.ModelForm):
    class Meta:
        model = FundEntry
        fields = ["fund", "region", "month", "kind", "amount", "note"]


@admin.register(FundEntry)
class FundEntryAdmin(ScopedAdmin):
    form = FundEntryForm
    list_display = ["month", "fund", "region", "kind", "amount", "note", "created_by"]
    list_filter = ["fund", "kind"]
    date_hierarchy = "month"
    add_roles = FINANCE_ROLES
    view_roles = STAFF_ROLES
    autocomplete_fields = ["region"]

    def get_readonly_fields(self, request, obj=None):
        return ["fund", "region", "month", "kind", "amount", "note", "created_by", "created_at"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return
        saved = services.fund_entry_record(fund=obj.fund, region=obj.region, month=obj.month, kind=obj.kind,
                                           amount=obj.amount, note=obj.note, actor=request.user)
        obj.pk = saved.pk


@admin.register(LedgerCheck)
class LedgerCheckAdmin(ScopedAdmin):
    list_display = ["checked_on", "year", "ledgers", "mismatches", "updated_at"]
    list_filter = ["year"]
    view_roles = frozenset({Role.SUPERVISOR, Role.FINANCE})
    readonly_fields = ["year", "checked_on", "ledgers", "mismatches", "details", "updated_at"]
    fields = readonly_fields
