"""Deliveries, the hospital's acceptance (验收) and the reconciliation of the supplier's
invoice with the accepted value; the importer validates with the same functions."""
from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.policy import policy_snapshot

from .. import rules
from ..models import Delivery, DeliveryStatus, Hospital, Order, Product, Supplier
from ._common import FINANCE_ROLES, _money, _positive_int

log = logging.getLogger("procurement.services")


def delivery_check(*, hospital: Hospital, supplier: Supplier, product: Product, order: Order | None,
                   delivered_on: date, today: date) -> dict[str, list[str]]:
    """Return the field errors of a new delivery (shared by the service and the importer)."""
    errors: dict[str, list[str]] = {}
    if product.supplier_id and product.supplier_id != supplier.pk:
        errors.setdefault("supplier", []).append(
            _("产品 %(product)s 的中选企业不是 %(supplier)s。") % {"product": product.code, "supplier": supplier.code})
    if order is not None and (order.hospital_id, order.supplier_id, order.product_id) != (
            hospital.pk, supplier.pk, product.pk):
        errors.setdefault("order", []).append(_("订单的医疗机构、供应企业或产品与配送不一致。"))
    if delivered_on > today:
        errors.setdefault("delivered_on", []).append(_("配送日期不能晚于今天。"))
    return errors


def invoice_taken(supplier: Supplier, invoice_number: str) -> bool:
    return bool(invoice_number) and Delivery.objects.filter(supplier=supplier, invoice_number=invoice_number).exists()


@transaction.atomic
def delivery_create(*, hospital: Hospital, supplier: Supplier, product: Product, quantity, amount,
                    delivered_on: date, order: Order | None = None, invoice_number: str = "",
                    actor=None) -> Delivery:
    """Register a delivery with the supplier's invoice amount; it waits for acceptance."""
    require_actor(actor, FINANCE_ROLES)
    errors = delivery_check(hospital=hospital, supplier=supplier, product=product, order=order,
                            delivered_on=delivered_on, today=timezone.localdate())
    if invoice_taken(supplier, invoice_number):
        errors["invoice_number"] = [_("该企业的发票号 %(no)s 已登记。") % {"no": invoice_number}]
    qty = amt = None
    try:
        qty = _positive_int(quantity, "quantity")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        amt = _money(amount, "amount")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    delivery = Delivery(hospital=hospital, supplier=supplier, product=product, order=order, quantity=qty,
                        unit_price=product.unit_price, amount=amt, delivered_on=delivered_on,
                        invoice_number=invoice_number)
    audited_save(delivery, actor=actor, reason=_("登记配送"))
    return delivery


def _settle_terms(delivery: Delivery, accepted_on: date) -> tuple[int, Decimal, dict, str]:
    snap = policy_snapshot(delivery.hospital.township, accepted_on)
    payment_days = snap.integer("procurement.payment_days")
    tolerance = snap.decimal("procurement.reconcile_tolerance")
    return payment_days, tolerance, snap.used_record(), snap.version


def acceptance_errors(delivery: Delivery, *, accepted_on: date, quantity: int, today: date) -> dict[str, list[str]]:
    """Return the field errors of accepting ``quantity`` of ``delivery`` on ``accepted_on``."""
    errors: dict[str, list[str]] = {}
    if quantity > delivery.quantity:
        errors["quantity"] = [_("验收数量不能超过配送数量 %(n)s。") % {"n": delivery.quantity}]
    if accepted_on < delivery.delivered_on:
        errors["accepted_on"] = [_("验收日期不能早于配送日期。")]
    elif accepted_on > today:
        errors["accepted_on"] = [_("验收日期不能晚于今天。")]
    return errors


def acceptance_apply(delivery: Delivery, *, accepted_on: date, quantity: int, snapshot) -> bool:
    """Set the acceptance and reconciliation fields of ``delivery`` in memory; return whether
    the invoice reconciled.  ``snapshot`` is the policy of the hospital's township on the
    acceptance date (the service and the importer both call this)."""
    delivery.accepted_on, delivery.accepted_quantity = accepted_on, quantity
    if quantity == 0:
        delivery.status, delivery.accepted_amount = DeliveryStatus.REJECTED, Decimal("0.00")
        delivery.mismatch = delivery.due_on = None
        return True
    payment_days = snapshot.integer("procurement.payment_days")
    tolerance = snapshot.decimal("procurement.reconcile_tolerance")
    delivery.accepted_amount = rules.accepted_value(quantity, delivery.unit_price)
    ok, delivery.mismatch = rules.reconcile(delivery.amount, delivery.accepted_amount, tolerance)
    delivery.status = DeliveryStatus.ACCEPTED if ok else DeliveryStatus.HELD
    delivery.due_on = rules.due_date(accepted_on, payment_days)
    delivery.policy_used, delivery.policy_version = snapshot.used_record(), snapshot.version
    return ok


@transaction.atomic
def delivery_accept(*, delivery_id: int, accepted_on: date, quantity, actor=None) -> Delivery:
    """Record the hospital's acceptance (验收) of a delivery, in full or in part, and reconcile.

    The accepted value is accepted quantity × the selected unit price; the invoice is compared
    with it: within ``procurement.reconcile_tolerance`` the delivery becomes payable, otherwise
    it is held for finance.  Either way the payment is due ``procurement.payment_days`` after
    acceptance.  Accepting nothing (quantity 0) rejects the whole delivery.
    """
    require_actor(actor, FINANCE_ROLES)
    delivery = (Delivery.objects.select_for_update(of=("self",)).select_related("hospital__township")
                .filter(pk=delivery_id).first())
    if delivery is None:
        raise ValidationError({"detail": [_("配送记录不存在。")]})
    if delivery.status != DeliveryStatus.DELIVERED:
        raise ValidationError({"detail": [_("该配送已验收(%(status)s),不能重复验收。")
                                          % {"status": delivery.get_status_display()}]})
    qty = _positive_int(quantity, "quantity", allow_zero=True)
    errors = acceptance_errors(delivery, accepted_on=accepted_on, quantity=qty, today=timezone.localdate())
    if errors:
        raise ValidationError(errors)
    ok = acceptance_apply(delivery, accepted_on=accepted_on, quantity=qty,
                          snapshot=policy_snapshot(delivery.hospital.township, accepted_on))
    if qty == 0:
        reason = _("全部拒收")
    else:
        reason = _("验收") if ok else _("验收:发票金额与验收金额不符,挂起待财务处理")
    audited_save(delivery, actor=actor, reason=reason)
    if not ok:
        log.warning("delivery %s held: invoice differs from accepted value by %s", delivery.pk, delivery.mismatch)
    return delivery


@transaction.atomic
def delivery_reconcile(*, delivery_id: int, amount, reason: str = "", actor=None) -> Delivery:
    """Record the supplier's corrected invoice for a held delivery (finance) and release it.

    The corrected amount must reconcile with the accepted value (same tolerance as at
    acceptance); otherwise nothing is written and the difference is reported.
    """
    require_actor(actor, FINANCE_ROLES)
    delivery = (Delivery.objects.select_for_update(of=("self",)).select_related("hospital__township")
                .filter(pk=delivery_id).first())
    if delivery is None:
        raise ValidationError({"detail": [_("配送记录不存在。")]})
    if delivery.status != DeliveryStatus.HELD:
        raise ValidationError({"detail": [_("只有对账不符挂起的配送可以重新对账。")]})
    amt = _money(amount, "amount")
    _days, tolerance, _used, _version = _settle_terms(delivery, delivery.accepted_on)
    ok, difference = rules.reconcile(amt, delivery.accepted_amount, tolerance)
    if not ok:
        raise ValidationError({"amount": [_("更正后的发票金额与验收金额 %(value)s 仍相差 %(diff)s 元。")
                                          % {"value": delivery.accepted_amount, "diff": difference}]})
    delivery.amount, delivery.mismatch, delivery.status = amt, difference, DeliveryStatus.ACCEPTED
    audited_save(delivery, actor=actor, reason=(reason or _("更正发票金额,对账通过"))[:100])
    return delivery
