"""Deliveries with their acceptance and reconciliation pages; the due-soon and overdue
lists are the ``alert`` filter."""
from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from yibao_site.admin_base import ScopedImportExportAdmin, township_filter
from yibao_site.forms import AdminStyledFormMixin

from .. import services
from ..importers import DeliveryImporter
from ..models import Delivery, DeliveryStatus, PaymentLine
from ._base import FINANCE, ServiceFormMixin, _scoped_fk, _service_form


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
