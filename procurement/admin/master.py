"""Master data for finance: procurement batches, suppliers (with the statement page),
products, hospitals, agreed volumes and purchase orders."""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import ScopedAdmin, township_filter
from yibao_site.forms import AdminStyledFormMixin
from yibao_site.xlsx import xlsx_response
from yibao_site.models import Region, RegionLevel
from yibao_site.scoping import scope_queryset

from .. import selectors, services
from ..exports import supplier_statement_sheets
from ..models import AgreedVolume, DeliveryStatus, Hospital, Order, ProcurementBatch, Product, Supplier
from ._base import FINANCE, ServiceFormMixin, _scoped_fk


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
            return xlsx_response(f"statement-{supplier.code}.xlsx", supplier_statement_sheets(statement))
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
