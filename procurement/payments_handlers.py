"""What the bank's answer means for supplier payments (registered with ``payments.registry``).

Called by :mod:`payments.services` inside the transaction that records the answer:

* confirmed — the order's lines are confirmed on the bank's date (到账日期), with the days from
  acceptance and the timeliness measured to that date; the deliveries become paid; the
  hospitals' deductions of the run are recomputed from its confirmed lines;
* failed — the lines are marked returned and the deliveries wait for a reviewed correction;
* corrected — the supplier's bank details are updated and the deliveries return to the queue,
  so the next run instructs them again under a new instruction number.
"""
from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from payments.models import Purpose
from payments.public import PurposeHandler
from payments.public import register as register_handler
from yibao_site.audit import bulk_create_audited, bulk_update_audited, history_from_rows
from yibao_site.money import to_fen

from . import rules
from .models import Delivery, DeliveryAlert, DeliveryStatus, HospitalDeduction, LineState, PaymentLine, PaymentOrder
from .services import supplier_bank_correct


def _order_ids(instructions) -> dict[int, object]:
    return {int(ins.source_ref.split(":", 1)[1]): ins for ins in instructions}


def _refresh_deductions(run_ids, actor=None) -> None:
    """Set each hospital's deduction of the runs to the sum of its confirmed lines."""
    for run_id in sorted(set(run_ids)):
        confirmed = (PaymentLine.objects.filter(order__run_id=run_id, state=LineState.CONFIRMED)
                     .values("hospital_id").annotate(n=Count("id"), total=Sum("amount")))
        existing = {d.hospital_id: d for d in HospitalDeduction.objects.select_for_update().filter(run_id=run_id)}
        new, changed = [], []
        for r in confirmed:
            total = to_fen(r["total"] or 0)
            d = existing.get(r["hospital_id"])
            if d is None:
                new.append(HospitalDeduction(run_id=run_id, hospital_id=r["hospital_id"], count=r["n"], amount=total))
            elif (d.count, d.amount) != (r["n"], total):
                d.count, d.amount = r["n"], total
                changed.append(d)
        bulk_create_audited(new, HospitalDeduction, actor=actor, reason=_("银行确认支付,从医保基金结算中扣减"))
        bulk_update_audited(changed, HospitalDeduction, ["count", "amount"], actor=actor,
                            reason=_("银行确认支付,扣减合计"))


def on_confirmed(instructions) -> None:
    by_order = _order_ids(instructions)
    lines = list(PaymentLine.objects.select_for_update().filter(order_id__in=by_order, state=LineState.INSTRUCTED)
                 .order_by("pk"))
    paid_on_by_day = defaultdict(list)
    for line in lines:
        ins = by_order[line.order_id]
        line.state, line.paid_on, line.bank_reference = LineState.CONFIRMED, ins.result_on, ins.bank_reference
        line.days_to_pay = rules.days_to_pay(line.accepted_on, ins.result_on)
        line.on_time = ins.result_on <= line.due_on
        paid_on_by_day[ins.result_on].append(line.delivery_id)
    PaymentLine.objects.bulk_update(lines, ["state", "paid_on", "bank_reference", "days_to_pay", "on_time"],
                                    batch_size=2500)
    for day, ids in sorted(paid_on_by_day.items()):
        Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.INSTRUCTED).update(
            status=DeliveryStatus.PAID, paid_on=day, alert=DeliveryAlert.NONE)
        history_from_rows(Delivery, ids, reason=_("银行确认到账 %(date)s") % {"date": day.isoformat()})
    runs = PaymentOrder.objects.filter(pk__in=by_order).values_list("run_id", flat=True)
    _refresh_deductions(runs)


def on_failed(instructions) -> None:
    by_order = _order_ids(instructions)
    lines = PaymentLine.objects.filter(order_id__in=by_order, state=LineState.INSTRUCTED)
    ids = list(lines.values_list("delivery_id", flat=True))
    lines.update(state=LineState.FAILED)
    Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.INSTRUCTED).update(status=DeliveryStatus.RETURNED)
    history_from_rows(Delivery, ids, reason=_("银行退回:%(reason)s") % {"reason": instructions[0].failure_reason})


def on_corrected(instruction, correction, actor) -> None:
    order_id = int(instruction.source_ref.split(":", 1)[1])
    supplier_bank_correct(code=instruction.payee_code, bank_name=correction.bank_name,
                          bank_account=correction.account_number, actor=actor)
    ids = list(PaymentLine.objects.filter(order_id=order_id, state=LineState.FAILED).values_list("delivery_id", flat=True))
    back = Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.RETURNED)
    ids = list(back.values_list("pk", flat=True))
    back.update(status=DeliveryStatus.ACCEPTED)
    history_from_rows(Delivery, ids, actor=actor, reason=_("收款信息已更正,重回待支付队列"))


def register() -> None:
    register_handler(Purpose.SUPPLIER, PurposeHandler(confirmed=on_confirmed, failed=on_failed, corrected=on_corrected))
