"""Reads and reports of procurement (DOMAIN.md §8), scoped to the caller.

Reports are set-based: one aggregate query each, then per-row arithmetic in Python with
``Decimal`` (averages and shares are computed from sums and counts, never from a database
float).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth, TruncQuarter, TruncYear
from django.utils.translation import gettext as _

from yibao_site.money import quantize, to_fen
from yibao_site.policy import PolicyCache
from yibao_site.replica import report_reads
from yibao_site.scoping import scope_queryset

from . import rules
from .models import (
    AgreedVolume, Delivery, DeliveryAlert, DeliveryStatus, Hospital, LineState, PaymentLine, PaymentOrder, PaymentRun,
    RunStatus, Supplier,
)

DAYS = Decimal("0.1")
PERIODS = {"month": TruncMonth, "quarter": TruncQuarter, "year": TruncYear}
COUNTED = [DeliveryStatus.ACCEPTED, DeliveryStatus.HELD, DeliveryStatus.INSTRUCTED, DeliveryStatus.RETURNED,
           DeliveryStatus.PAID]
UNPAID = [DeliveryStatus.ACCEPTED, DeliveryStatus.HELD, DeliveryStatus.INSTRUCTED, DeliveryStatus.RETURNED]


def delivery_list(user) -> QuerySet[Delivery]:
    return scope_queryset(
        Delivery.objects.select_related("hospital", "supplier", "product").prefetch_related("payment_lines__order"),
        user)


def unpaid_alerts(user, alert: str) -> QuerySet[Delivery]:
    """Accepted deliveries not yet paid with the given alert (``due_soon`` / ``overdue``)."""
    return delivery_list(user).filter(status__in=UNPAID, alert=alert)


def runs_to_review() -> QuerySet[PaymentRun]:
    return PaymentRun.objects.filter(Q(status=RunStatus.COMPLETED, reviewed_at__isnull=True)
                                     | Q(status=RunStatus.FAILED))


def _period_label(value, period: str) -> str:
    d = value.date() if hasattr(value, "date") else value
    if period == "year":
        return f"{d.year}"
    if period == "quarter":
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
    return f"{d:%Y-%m}"


def _share(part: int, whole: int) -> Decimal:
    return rules.completion_ratio(part, whole) if whole else Decimal("0")


@report_reads
def settlement_report(*, user, period: str = "month", date_from: date | None = None, date_to: date | None = None,
                      supplier: Supplier | None = None, hospital: Hospital | None = None) -> dict:
    """Amount settled directly per period, with days from acceptance to payment and the share
    paid within the payment deadline (按期支付率).

    Only payments the bank confirmed count, by the bank's confirmation date: the 30-day
    promise is about money received, not an instruction written."""
    if period not in PERIODS:
        raise ValidationError({"period": [_("统计周期应为 month、quarter 或 year。")]})
    lines = scope_queryset(PaymentLine.objects.filter(state=LineState.CONFIRMED), user)
    if date_from:
        lines = lines.filter(paid_on__gte=date_from)
    if date_to:
        lines = lines.filter(paid_on__lte=date_to)
    if supplier:
        lines = lines.filter(order__supplier=supplier)
    if hospital:
        lines = lines.filter(hospital=hospital)
    rows = (lines.annotate(p=PERIODS[period]("paid_on")).values("p")
            .annotate(n=Count("id"), amount=Sum("amount"), days=Sum("days_to_pay"), late_days=Max("days_to_pay"),
                      on_time=Count("id", filter=Q(on_time=True)))
            .order_by("p"))
    out, total = [], {"count": 0, "amount": Decimal("0.00"), "days": 0, "on_time": 0, "max_days": 0}
    for r in rows:
        out.append({
            "period": _period_label(r["p"], period), "count": r["n"], "amount": to_fen(r["amount"]),
            "average_days": quantize(Decimal(r["days"]) / r["n"], DAYS),
            "max_days": r["late_days"], "on_time_count": r["on_time"], "on_time_share": _share(r["on_time"], r["n"]),
        })
        total["count"] += r["n"]
        total["amount"] += to_fen(r["amount"])
        total["days"] += r["days"]
        total["on_time"] += r["on_time"]
        total["max_days"] = max(total["max_days"], r["late_days"])
    n = total["count"]
    summary = {
        "count": n, "amount": total["amount"],
        "average_days": quantize(Decimal(total["days"]) / n, DAYS) if n else Decimal("0.0"),
        "max_days": total["max_days"], "on_time_count": total["on_time"], "on_time_share": _share(total["on_time"], n),
    }
    return {"period": period, "rows": out, "total": summary}


@dataclass
class CompletionRow:
    hospital: str
    hospital_name: str
    township: str
    product: str
    product_name: str
    year: int
    agreed: int
    done: int
    completion: Decimal
    expected: Decimal
    laggard: bool
    policy: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("hospital", "hospital_name", "township", "product", "product_name",
                                              "year", "agreed", "done", "completion", "expected", "laggard")}


@report_reads
def volume_completion(*, user, year: int, as_of: date, hospital: Hospital | None = None,
                      laggards_only: bool = False) -> list[CompletionRow]:
    """Agreed-volume completion per hospital and product for ``year`` as of ``as_of``.

    Done = accepted quantity of deliveries accepted in the year up to ``as_of``.  A row lags
    when completion < share of the year elapsed × ``procurement.volume_laggard_ratio``
    (the hospital's township's parameter on ``as_of``).
    """
    agreed = scope_queryset(AgreedVolume.objects.filter(year=year), user)
    if hospital:
        agreed = agreed.filter(hospital=hospital)
    agreed_rows = list(agreed.values_list(
        "hospital_id", "hospital__code", "hospital__name", "hospital__township__code", "product_id", "product__code",
        "product__name", "quantity").order_by("hospital__code", "product__code"))
    end = min(as_of, date(year, 12, 31))
    done = dict(
        ((h, p), q) for h, p, q in
        Delivery.objects.filter(status__in=COUNTED, accepted_on__gte=date(year, 1, 1), accepted_on__lte=end,
                                hospital_id__in={r[0] for r in agreed_rows}, product_id__in={r[4] for r in agreed_rows})
        .values("hospital_id", "product_id").annotate(q=Sum("accepted_quantity"))
        .values_list("hospital_id", "product_id", "q")
    )
    cache = PolicyCache()
    elapsed = rules.year_elapsed_share(year, as_of)
    out = []
    for hid, hcode, hname, tcode, pid, pcode, pname, qty in agreed_rows:
        snap = cache.get(tcode, as_of)
        ratio = snap.decimal("procurement.volume_laggard_ratio")
        got = int(done.get((hid, pid)) or 0)
        completion = rules.completion_ratio(got, qty)
        expected = quantize(elapsed * ratio, rules.RATIO)
        row = CompletionRow(hcode, hname, tcode, pcode, pname, year, qty, got, completion, expected,
                            rules.is_laggard(completion, elapsed, ratio), snap.used_record())
        if row.laggard or not laggards_only:
            out.append(row)
    return out


@report_reads
def supplier_statement(*, user, supplier: Supplier, date_from: date, date_to: date) -> dict:
    """A supplier's statement (对账单) for a period: its deliveries delivered in the period with
    acceptance and payment, the payments made to it in the period, and what is still owed."""
    if date_to < date_from:
        raise ValidationError({"date_to": [_("结束日期不能早于开始日期。")]})
    deliveries = (delivery_list(user).filter(supplier=supplier, delivered_on__gte=date_from, delivered_on__lte=date_to)
                  .order_by("delivered_on", "id"))
    lines = []
    for d in deliveries:
        line = getattr(d, "payment_line", None)
        lines.append({
            "id": d.pk, "hospital": d.hospital.code, "product": d.product.code, "delivered_on": d.delivered_on,
            "quantity": d.quantity, "amount": d.amount, "invoice_number": d.invoice_number, "status": d.status,
            "accepted_on": d.accepted_on, "accepted_quantity": d.accepted_quantity,
            "accepted_amount": d.accepted_amount, "due_on": d.due_on, "paid_on": d.paid_on,
            "payment_order": line.order.number if line else None,
        })
    scoped = scope_queryset(PaymentLine.objects.filter(order__supplier=supplier, state=LineState.CONFIRMED), user)
    paid = scoped.filter(paid_on__gte=date_from, paid_on__lte=date_to).aggregate(n=Count("id"), s=Sum("amount"))
    owed = delivery_list(user).filter(supplier=supplier, status__in=UNPAID)
    owed_sum = owed.aggregate(n=Count("id"), s=Sum("amount"),
                              held=Sum("amount", filter=Q(status=DeliveryStatus.HELD)),
                              overdue=Count("id", filter=Q(alert=DeliveryAlert.OVERDUE)))
    orders = (PaymentOrder.objects.filter(supplier=supplier, run__as_of__gte=date_from, run__as_of__lte=date_to)
              .select_related("run").order_by("run__as_of"))
    return {
        "supplier": supplier.code, "supplier_name": supplier.name, "date_from": date_from, "date_to": date_to,
        "deliveries": lines,
        "delivered_amount": to_fen(sum((d["amount"] for d in lines), Decimal("0"))),
        "paid_count": paid["n"], "paid_amount": to_fen(paid["s"] or 0),
        "outstanding_count": owed_sum["n"], "outstanding_amount": to_fen(owed_sum["s"] or 0),
        "held_amount": to_fen(owed_sum["held"] or 0), "overdue_count": owed_sum["overdue"],
        "payment_orders": [{"number": o.number, "as_of": o.run.as_of, "count": o.count, "amount": o.amount}
                           for o in orders],
    }
