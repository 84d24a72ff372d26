"""Admin of procurement for finance: master data, deliveries and their acceptance and
reconciliation, payment runs (run, review), payment orders, due-soon and overdue lists, and
the reports.  Every write goes through ``services``; state fields are read-only."""
from __future__ import annotations


from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from unfold.admin import TabularInline

from yibao_site.admin_base import ServiceFormMixin as BaseServiceFormMixin
from yibao_site.admin_base import ScopedAdmin, ScopedImportExportAdmin, page_context, township_filter
from yibao_site.charts import chart
from yibao_site.forms import AdminStyledFormMixin
from yibao_site.formatting import format_percent
from yibao_site.xlsx import Sheet, xlsx_response
from yibao_site.models import Region, RegionLevel, Role
from yibao_site.scoping import scope_queryset

from . import selectors, services
from .exports import supplier_statement_xlsx, volume_completion_xlsx
from .importers import DeliveryImporter
from .models import (
    AgreedVolume, Delivery, DeliveryStatus, Hospital, HospitalDeduction, Order, PaymentLine, PaymentOrder, PaymentRun,
    ProcurementBatch, Product, RunStatus, RunTrigger, Supplier,
)

FINANCE = frozenset({Role.FINANCE})
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ServiceFormMixin(BaseServiceFormMixin):
    """The service saves the object itself; there is nothing related left to save."""

    def save_related(self, request, form, formsets, change):
        return None


def _service_form(admin_obj, request, *, title: str, form: forms.Form, handle, done_url: str, obj=None,
                  intro: str = ""):
    """Render ``form``; on a valid POST call ``handle(cleaned_data)`` and redirect."""
    if request.method == "POST" and form.is_valid():
        try:
            message = handle(form.cleaned_data)
        except ValidationError as exc:
            items = exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]
            for name, msgs in items:
                for msg in msgs:
                    form.add_error(name if name in form.fields else None, msg)
        else:
            messages.success(request, message)
            return HttpResponseRedirect(done_url)
    context = {**admin_obj.admin_site.each_context(request), "title": title, "form": form, "object": obj,
               "intro": intro, "opts": admin_obj.model._meta}
    return TemplateResponse(request, "procurement/form.html", context)


# ── master data ─────────────────────────────────────────────────────────────────────────────

class _MasterAdmin(ServiceFormMixin, ScopedAdmin):
    add_roles = change_roles = FINANCE
    search_fields = ["code", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj else []


@admin.register(ProcurementBatch)
class ProcurementBatchAdmin(_MasterAdmin):
    list_display = ["code", "name", "level", "starts_on", "ends_on"]
    list_filter = ["level"]
    fields = ["code", "name", "level", "starts_on", "ends_on"]

    def save_via_service(self, request, obj, data):
        return services.batch_save(code=obj.code if obj else data["code"], name=data["name"], level=data["level"],
                                   starts_on=data.get("starts_on"), ends_on=data.get("ends_on"), actor=request.user)


class StatementForm(AdminStyledFormMixin, forms.Form):
    date_from = forms.DateField(label=_("起始日期"))
    date_to = forms.DateField(label=_("截止日期"))


@admin.register(Supplier)
class SupplierAdmin(_MasterAdmin):
    list_display = ["code", "name", "credit_code", "statement_link"]
    fields = ["code", "name", "credit_code", "bank_name", "bank_account"]

    def save_via_service(self, request, obj, data):
        return services.supplier_save(code=obj.code if obj else data["code"], name=data["name"],
                                      credit_code=data.get("credit_code", ""), bank_name=data.get("bank_name", ""),
                                      bank_account=data.get("bank_account", ""), actor=request.user)

    @admin.display(description=_("对账单"))
    def statement_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:procurement_supplier_statement", args=[obj.pk]),
                           _("对账单"))

    def get_urls(self):
        return [path("<int:pk>/statement/", self.admin_site.admin_view(self.statement_view),
                     name="procurement_supplier_statement"), *super().get_urls()]

    def statement_view(self, request, pk):
        """对账单: a period's deliveries, payments and what is owed; ``?export=xlsx`` downloads it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        supplier = self.get_queryset(request).filter(pk=pk).first()
        if supplier is None:
            raise PermissionDenied
        today = timezone.localdate()
        form = StatementForm(request.GET or {"date_from": today.replace(day=1), "date_to": today})
        statement = None
        if form.is_valid():
            try:
                statement = selectors.supplier_statement(user=request.user, supplier=supplier, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
        if statement is not None and request.GET.get("export") == "xlsx":
            response = HttpResponse(supplier_statement_xlsx(statement), content_type=XLSX)
            response["Content-Disposition"] = f'attachment; filename="statement-{supplier.code}.xlsx"'
            return response
        context = {**self.admin_site.each_context(request), "title": _("供应企业对账单:%s") % supplier.name,
                   "form": form, "statement": statement, "supplier": supplier, "opts": self.model._meta,
                   "statuses": dict(DeliveryStatus.choices)}
        return TemplateResponse(request, "procurement/statement.html", context)


@admin.register(Product)
class ProductAdmin(_MasterAdmin):
    list_display = ["code", "name", "kind", "specification", "unit", "unit_price", "batch", "supplier"]
    list_filter = ["kind", "batch"]
    list_select_related = ["batch", "supplier"]
    fields = ["code", "name", "kind", "specification", "unit", "unit_price", "batch", "supplier"]
    autocomplete_fields = ["supplier"]

    def save_via_service(self, request, obj, data):
        return services.product_save(code=obj.code if obj else data["code"], name=data["name"], kind=data["kind"],
                                     unit_price=data["unit_price"], specification=data.get("specification", ""),
                                     unit=data.get("unit", ""), batch=data.get("batch"), supplier=data.get("supplier"),
                                     actor=request.user)


@admin.register(Hospital)
class HospitalAdmin(_MasterAdmin):
    list_display = ["code", "name", "level", "township"]
    list_filter = ["level", township_filter("township")]
    list_select_related = ["township"]
    fields = ["code", "name", "level", "township"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "township":
            kwargs["queryset"] = scope_queryset(Region.objects.filter(level=RegionLevel.TOWNSHIP), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_via_service(self, request, obj, data):
        return services.hospital_save(code=obj.code if obj else data["code"], name=data["name"], level=data["level"],
                                      township=data["township"], actor=request.user)


def _scoped_fk(admin_obj, db_field, request, kwargs):
    if db_field.name in ("hospital", "order"):
        kwargs["queryset"] = scope_queryset(db_field.related_model.objects.all(), request.user)
    return kwargs


@admin.register(AgreedVolume)
class AgreedVolumeAdmin(ServiceFormMixin, ScopedAdmin):
    list_display = ["year", "hospital", "product", "quantity"]
    list_filter = ["year", township_filter("hospital__township")]
    list_select_related = ["hospital", "product"]
    search_fields = ["hospital__code", "hospital__name", "product__code", "product__name"]
    fields = ["hospital", "product", "year", "quantity"]
    add_roles = change_roles = FINANCE

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(db_field, request, **_scoped_fk(self, db_field, request, kwargs))

    def save_via_service(self, request, obj, data):
        return services.agreed_volume_save(hospital=data["hospital"], product=data["product"], year=data["year"],
                                           quantity=data["quantity"], actor=request.user)


@admin.register(Order)
class OrderAdmin(ServiceFormMixin, ScopedAdmin):
    list_display = ["id", "number", "ordered_on", "hospital", "supplier", "product", "quantity"]
    list_filter = [township_filter("hospital__township"), "supplier"]
    list_select_related = ["hospital", "supplier", "product"]
    search_fields = ["number", "hospital__code", "supplier__code"]
    fields = ["hospital", "supplier", "product", "quantity", "ordered_on", "number"]
    date_hierarchy = "ordered_on"
    add_roles = FINANCE

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(db_field, request, **_scoped_fk(self, db_field, request, kwargs))

    def save_via_service(self, request, obj, data):
        return services.order_create(hospital=data["hospital"], supplier=data["supplier"], product=data["product"],
                                     quantity=data["quantity"], ordered_on=data["ordered_on"],
                                     number=data.get("number", ""), actor=request.user)


# ── deliveries, acceptance, reconciliation ──────────────────────────────────────────────────

class AcceptForm(AdminStyledFormMixin, forms.Form):
    accepted_on = forms.DateField(label=_("验收日期"))
    quantity = forms.IntegerField(label=_("验收数量"), min_value=0, max_value=2_000_000_000,
                                  help_text=_("部分验收填实际验收数量;填0表示全部拒收。"))


class ReconcileForm(AdminStyledFormMixin, forms.Form):
    amount = forms.DecimalField(label=_("更正后的发票金额(元)"), max_digits=14, decimal_places=2, min_value=0)
    reason = forms.CharField(label=_("说明"), max_length=100, required=False)


@admin.register(Delivery)
class DeliveryAdmin(ServiceFormMixin, ScopedImportExportAdmin):
    """配送与验收; the due-soon and overdue lists are its ``alert`` filter."""

    list_display = ["id", "delivered_on", "hospital", "supplier", "product", "quantity", "amount", "status",
                    "accepted_on", "accepted_quantity", "mismatch", "due_on", "alert", "paid_on", "workflow"]
    list_filter = ["status", "alert", township_filter("hospital__township"), "supplier", "product__kind"]
    list_select_related = ["hospital", "supplier", "product"]
    search_fields = ["=id", "invoice_number", "hospital__code", "supplier__code", "product__code"]
    date_hierarchy = "delivered_on"
    add_roles = FINANCE
    import_roles = FINANCE
    fields = ["hospital", "supplier", "product", "order", "quantity", "amount", "delivered_on", "invoice_number"]
    readonly_fields = ["unit_price", "status", "accepted_on", "accepted_quantity", "accepted_amount", "mismatch",
                       "due_on", "alert", "escalated_on", "paid_on", "payment", "policy_version", "workflow"]

    def get_fields(self, request, obj=None):
        return self.fields + (self.readonly_fields if obj else [])

    def get_import_resource_classes(self, request):
        return [DeliveryImporter]

    def get_import_resource_kwargs(self, request, **kwargs):
        return {"user": request.user}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        return super().formfield_for_foreignkey(db_field, request, **_scoped_fk(self, db_field, request, kwargs))

    def save_via_service(self, request, obj, data):
        return services.delivery_create(hospital=data["hospital"], supplier=data["supplier"], product=data["product"],
                                        order=data.get("order"), quantity=data["quantity"], amount=data["amount"],
                                        delivered_on=data["delivered_on"],
                                        invoice_number=data.get("invoice_number", ""), actor=request.user)

    @admin.display(description=_("付款"))
    def payment(self, obj):
        line = PaymentLine.objects.filter(delivery=obj).exclude(state="failed").select_related("order").first()
        if line is None:
            return "-"
        return format_html('<a href="{}">{}</a> {} · {}', reverse("admin:procurement_paymentorder_change",
                                                                 args=[line.order_id]),
                           line.order.number, line.paid_on, line.amount)

    @admin.display(description=_("操作"))
    def workflow(self, obj):
        if obj.status == DeliveryStatus.DELIVERED:
            return format_html('<a href="{}">{}</a>', reverse("admin:procurement_delivery_accept", args=[obj.pk]),
                               _("验收"))
        if obj.status == DeliveryStatus.HELD:
            return format_html('<a href="{}">{}</a>', reverse("admin:procurement_delivery_reconcile", args=[obj.pk]),
                               _("重新对账"))
        return ""

    def get_urls(self):
        return [
            path("<int:pk>/accept/", self.admin_site.admin_view(self.accept_view), name="procurement_delivery_accept"),
            path("<int:pk>/reconcile/", self.admin_site.admin_view(self.reconcile_view),
                 name="procurement_delivery_reconcile"),
            *super().get_urls(),
        ]

    def _finance_object(self, request, pk):
        if not self._role_ok(request, FINANCE):
            raise PermissionDenied
        obj = self.get_queryset(request).filter(pk=pk).first()
        if obj is None:
            raise PermissionDenied
        return obj

    def accept_view(self, request, pk):
        obj = self._finance_object(request, pk)
        form = AcceptForm(request.POST or None, initial={"accepted_on": timezone.localdate(), "quantity": obj.quantity})

        def handle(data):
            d = services.delivery_accept(delivery_id=obj.pk, actor=request.user, **data)
            return _("已验收:%(status)s,付款期限 %(due)s。") % {"status": d.get_status_display(), "due": d.due_on or "-"}

        return _service_form(self, request, title=_("验收配送 #%s") % obj.pk, form=form, handle=handle, obj=obj,
                             done_url=reverse("admin:procurement_delivery_change", args=[obj.pk]),
                             intro=_("配送数量 %(q)s,发票金额 %(a)s 元,中选单价 %(p)s 元。") % {
                                 "q": obj.quantity, "a": obj.amount, "p": obj.unit_price})

    def reconcile_view(self, request, pk):
        obj = self._finance_object(request, pk)
        form = ReconcileForm(request.POST or None, initial={"amount": obj.accepted_amount})

        def handle(data):
            services.delivery_reconcile(delivery_id=obj.pk, actor=request.user, **data)
            return _("对账通过,将由下一次支付批次支付。")

        return _service_form(self, request, title=_("重新对账 #%s") % obj.pk, form=form, handle=handle, obj=obj,
                             done_url=reverse("admin:procurement_delivery_change", args=[obj.pk]),
                             intro=_("验收金额 %(v)s 元,原发票金额 %(a)s 元,差额 %(d)s 元。") % {
                                 "v": obj.accepted_amount, "a": obj.amount, "d": obj.mismatch})


# ── payment runs and orders ────────────────────────────────────────────────────────────────

class ReadOnlyInline(TabularInline):
    """A read-only inline shown to whoever may view the parent (roles, not Django perms)."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
                response = HttpResponse(volume_completion_xlsx(completion), content_type=XLSX)
                response["Content-Disposition"] = f'attachment; filename="volume-completion-{data["year"]}.xlsx"'
                return response
            if request.GET.get("export") == "settlement":
                return xlsx_response(f"直接结算统计-{today:%Y%m%d}.xlsx", [settlement_sheet(settlement)])
        context = page_context(self, request, _("直接结算与约定采购量报表"), form=form, settlement=settlement,
                               completion=completion, terms=report_terms(request.user, today),
                               **report_charts(settlement, completion))
        return TemplateResponse(request, "procurement/reports.html", context)


def report_terms(user, on):
    """The parameter values the report's notes quote (the user's own region's, else the
    city's), so the note reads "30 天" and "80%" rather than a parameter key."""
    from yibao_site.models import Region, RegionLevel
    from yibao_site.policy import PolicyMissing, policy_snapshot

    region = user.region if getattr(user, "region_id", None) else (
        Region.objects.filter(level=RegionLevel.CITY).order_by("code").first())
    if region is None:
        return {}
    try:
        snap = policy_snapshot(region, on=on)
        return {"payment_days": snap.integer("procurement.payment_days"),
                "laggard_ratio": snap.decimal("procurement.volume_laggard_ratio")}
    except PolicyMissing:
        return {}


def report_charts(settlement, completion) -> dict:
    charts = {}
    if settlement and settlement["rows"]:
        rows = settlement["rows"]
        charts["settlement_chart"] = chart("bar", [r["period"] for r in rows],
                                           [(_("直接结算金额(元)"), [r["amount"] for r in rows])],
                                           title=_("直接结算金额(元)"))
        share = chart("line", [r["period"] for r in rows],
                      [(_("按期支付率(%)"), [r["on_time_share"] * 100 for r in rows])],
                      title=_("按期支付率(%)"), money=False)
        charts["on_time_chart"] = share
    if completion:
        top = sorted(completion, key=lambda r: r.completion)[:20]
        charts["completion_chart"] = chart(
            "bar", [f"{r.hospital_name} · {r.product_name}" for r in top],
            [(_("完成率(%)"), [r.completion * 100 for r in top]), (_("进度要求(%)"), [r.expected * 100 for r in top])],
            title=_("约定采购量完成率最低的 20 项(%)"), money=False)
    return charts


def settlement_sheet(settlement) -> Sheet:
    sheet = Sheet(_("直接结算统计"), [_("期间"), _("笔数"), _("直接结算金额(元)"), _("验收至支付平均天数"), _("最长天数"),
                                   _("按期支付笔数"), _("按期支付率")], money_columns={2})
    for r in [*settlement["rows"], {**settlement["total"], "period": _("合计")}]:
        sheet.rows.append([r["period"], r["count"], r["amount"], r["average_days"], r["max_days"], r["on_time_count"],
                           format_percent(r["on_time_share"])])
    return sheet


class ReportForm(AdminStyledFormMixin, forms.Form):
    period = forms.ChoiceField(label=_("统计周期"), choices=[("month", _("月")), ("quarter", _("季度")),
                                                           ("year", _("年"))])
    date_from = forms.DateField(label=_("支付日期起"), required=False)
    date_to = forms.DateField(label=_("支付日期止"), required=False)
    year = forms.IntegerField(label=_("约定采购年度"), min_value=2000, max_value=2100)
    as_of = forms.DateField(label=_("完成情况截至"), required=False)
    laggards_only = forms.BooleanField(label=_("只看滞后"), required=False)


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


