"""The ``deliveries`` importer (API.md import resources): a hospital-platform export of
deliveries, optionally with their acceptance, as CSV or XLSX.

Runs on ``yibao_site.imports.BulkImporter``: hospitals, suppliers, products, orders and the
deliveries already registered are looked up per batch in a few set-based queries; each row is
validated in memory with the functions the services use (``services.delivery_check``,
``services.acceptance_errors`` / ``acceptance_apply`` with the policy in force for the
hospital's township on the acceptance date); the file is written in bulk only when no row is
bad.  A delivery is identified by supplier + invoice number, so importing the same file again
finds every row unchanged.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.audit import bulk_create_audited, bulk_update_audited
from yibao_site.imports import BulkImporter, RowError, register
from yibao_site.imports import cell_date as _date
from yibao_site.imports import cell_text as _text
from yibao_site.inputs import parse_money
from yibao_site.policy import ChangeDatePolicyCache
from yibao_site.scoping import scope_queryset

from . import services
from .models import Delivery, DeliveryStatus, Hospital, Order, Product, Supplier

_FIELDS = ("hospital_id", "product_id", "order_id", "quantity", "amount", "delivered_on")
_ACCEPT_FIELDS = ("status", "accepted_on", "accepted_quantity", "accepted_amount", "mismatch", "due_on",
                  "policy_used", "policy_version")
_UPDATE_FIELDS = [*_FIELDS, "unit_price", *_ACCEPT_FIELDS]






def _int(row: dict[str, Any], key: str, errors: dict, *, required: bool = True, minimum: int = 1) -> int | None:
    text = _text(row, key)
    if not text:
        if required:
            errors.setdefault(key, []).append(_("必填。"))
        return None
    if not text.isdigit() or int(text) < minimum or int(text) > 2_000_000_000:
        errors.setdefault(key, []).append(_("应为正整数。") if minimum else _("应为不小于0的整数。"))
        return None
    return int(text)


def _money(row: dict[str, Any], key: str, errors: dict) -> Decimal | None:
    try:  # the kernel's one money rule and bound
        return parse_money(_text(row, key), allow_number=True)
    except ValidationError as exc:
        errors.setdefault(key, []).extend(exc.messages)
        return None


@register
class DeliveryImporter(BulkImporter):
    name = "deliveries"
    verbose_name = "配送与验收"
    columns = ["hospital", "supplier", "product", "quantity", "amount", "delivered_on", "invoice_number", "order",
               "accepted_on", "accepted_quantity"]
    example = {"hospital": "H420302001", "supplier": "S001", "product": "YP001", "quantity": 100, "amount": "1250.00",
               "delivered_on": "2026-03-02", "invoice_number": "FP0001", "accepted_on": "2026-03-03",
               "accepted_quantity": 100}
    required = {"hospital", "supplier", "product", "quantity", "amount", "delivered_on", "invoice_number"}
    header_aliases = {"医疗机构编码": "hospital", "医疗机构": "hospital", "企业编码": "supplier", "供应企业": "supplier",
                      "产品编码": "product", "产品": "product", "配送数量": "quantity", "发票金额": "amount",
                      "配送日期": "delivered_on", "发票号": "invoice_number", "订单编号": "order", "采购订单": "order",
                      "验收日期": "accepted_on", "验收数量": "accepted_quantity"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # One snapshot per (township, policy change date), not per acceptance date: the
        # parameters in force between two change dates are the same rows.
        self.cache = ChangeDatePolicyCache()
        self.today = timezone.localdate()
        self.hospitals: dict[str, Hospital] = {}
        self.suppliers: dict[str, Supplier] = {}
        self.products: dict[str, Product] = {}
        self.orders: dict[int, Order] = {}
        self.existing: dict[tuple[int, str], Delivery] = {}

    def prepare(self, rows):
        rows = [r for r in rows if not any("\x00" in _text(r, c) for c in self.columns)]  # refused in clean_row
        hospitals = Hospital.objects.select_related("township")
        if self.actor is not None and getattr(self.actor, "is_authenticated", False):
            hospitals = scope_queryset(hospitals, self.actor)
        codes = {_text(r, "hospital") for r in rows} - set(self.hospitals)
        self.hospitals.update({h.code: h for h in hospitals.filter(code__in=codes)})
        codes = {_text(r, "supplier") for r in rows} - set(self.suppliers)
        self.suppliers.update({s.code: s for s in Supplier.objects.filter(code__in=codes)})
        codes = {_text(r, "product") for r in rows} - set(self.products)
        self.products.update({p.code: p for p in Product.objects.filter(code__in=codes)})
        ids = {int(_text(r, "order")) for r in rows if _text(r, "order").isdigit()} - set(self.orders)
        self.orders.update({o.pk: o for o in Order.objects.filter(pk__in=ids)})
        supplier_ids = {s.pk for code in {_text(r, "supplier") for r in rows} if (s := self.suppliers.get(code))}
        invoices = {_text(r, "invoice_number") for r in rows}
        for d in Delivery.objects.filter(supplier_id__in=supplier_ids, invoice_number__in=invoices):
            self.existing[(d.supplier_id, d.invoice_number)] = d

    def clean_row(self, row):
        errors: dict[str, list[str]] = {}
        for column in self.columns:
            if "\x00" in _text(row, column):
                errors.setdefault(column, []).append(_("含有不可见的控制字符。"))
        if errors:
            raise ValidationError(errors)
        hospital = self.hospitals.get(_text(row, "hospital"))
        supplier = self.suppliers.get(_text(row, "supplier"))
        product = self.products.get(_text(row, "product"))
        for key, obj in (("hospital", hospital), ("supplier", supplier), ("product", product)):
            if obj is None:
                errors.setdefault(key, []).append(_("编码 %(code)s 不存在。") % {"code": _text(row, key)})
        order = None
        if _text(row, "order"):
            order = self.orders.get(int(_text(row, "order"))) if _text(row, "order").isdigit() else None
            if order is None:
                errors.setdefault("order", []).append(_("采购订单不存在。"))
        quantity = _int(row, "quantity", errors)
        amount = _money(row, "amount", errors)
        delivered_on = _date(row, "delivered_on", errors)
        invoice = _text(row, "invoice_number")
        if not invoice or len(invoice) > 40:
            errors.setdefault("invoice_number", []).append(_("发票号必填,最多40个字符。"))
        accepted_on = _date(row, "accepted_on", errors, required=False)
        accepted_qty = _int(row, "accepted_quantity", errors, required=False, minimum=0)
        if accepted_qty is not None and accepted_on is None and "accepted_on" not in errors:
            errors.setdefault("accepted_on", []).append(_("填写验收数量时必须填写验收日期。"))
        if hospital and supplier and product and delivered_on:
            for f, msgs in services.delivery_check(hospital=hospital, supplier=supplier, product=product, order=order,
                                                   delivered_on=delivered_on, today=self.today).items():
                errors.setdefault(f, []).extend(msgs)
        if errors:
            raise ValidationError(errors)

        current = self.existing.get((supplier.pk, invoice))
        if accepted_on is not None and accepted_qty is None:
            accepted_qty = quantity
        proposed = Delivery(hospital=hospital, supplier=supplier, product=product, order=order, quantity=quantity,
                            amount=amount, delivered_on=delivered_on, invoice_number=invoice,
                            unit_price=current.unit_price if current else product.unit_price)
        if current is not None:
            same = all(getattr(current, f) == getattr(proposed, f) for f in _FIELDS)
            same_acceptance = accepted_on is None or (current.accepted_on, current.accepted_quantity) == (
                accepted_on, accepted_qty)
            if same and same_acceptance:
                return ("unchanged", current)
            if current.status != DeliveryStatus.DELIVERED:
                raise ValidationError({"invoice_number": [
                    _("该发票的配送已验收(%(status)s),不能通过导入修改。") % {"status": current.get_status_display()}]})
            for f in _FIELDS:
                setattr(current, f, getattr(proposed, f))
            target, action = current, "updated"
        else:
            target, action = proposed, "created"
        if accepted_on is not None:
            acc_errors = services.acceptance_errors(target, accepted_on=accepted_on, quantity=accepted_qty,
                                                    today=self.today)
            if acc_errors:
                raise ValidationError({("accepted_quantity" if f == "quantity" else f): m for f, m in acc_errors.items()})
            services.acceptance_apply(target, accepted_on=accepted_on, quantity=accepted_qty,
                                      snapshot=self.cache.get(hospital.township, accepted_on))
        return (action, target)

    def check_file(self, rows, cleaned):
        seen: dict[tuple[int, str], int] = {}
        errors = []
        for number, (_action, d) in cleaned:
            key = (d.supplier_id, d.invoice_number)
            if key in seen:
                errors.append(RowError(number, "invoice_number", _("与第 %(row)s 行的发票号重复。") % {"row": seen[key]}))
            seen[key] = number
        return errors

    def write(self, cleaned, *, actor=None):
        new = [d for action, d in cleaned if action == "created"]
        changed = [d for action, d in cleaned if action == "updated"]
        bulk_create_audited(new, Delivery, actor=actor, reason=_("导入配送"))
        bulk_update_audited(changed, Delivery, _UPDATE_FIELDS, actor=actor, reason=_("导入配送(更新/验收)"))
        return len(new), len(changed), len(cleaned) - len(new) - len(changed)
