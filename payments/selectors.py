"""Reads of bank payments: the reconciliation per batch and per day, pending and failed by age."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from yibao_site.money import to_fen
from yibao_site.scoping import scope_queryset

from . import rules
from .models import BatchStatus, Instruction, InstructionBatch, InstructionStatus

S = InstructionStatus


def _totals(qs) -> dict:
    agg = qs.aggregate(
        n=Count("id"), total=Sum("amount"),
        confirmed_n=Count("id", filter=Q(status=S.CONFIRMED)), confirmed=Sum("amount", filter=Q(status=S.CONFIRMED)),
        failed_n=Count("id", filter=Q(status=S.FAILED)), failed=Sum("amount", filter=Q(status=S.FAILED)),
        pending_n=Count("id", filter=Q(status=S.PENDING)), pending=Sum("amount", filter=Q(status=S.PENDING)),
        escalated_n=Count("id", filter=Q(status=S.PENDING, escalated_on__isnull=False)),
    )
    fen = lambda v: to_fen(v or 0)  # noqa: E731  (SQLite's SUM drops the scale)
    out = {
        "instructed": {"count": agg["n"], "amount": fen(agg["total"])},
        "confirmed": {"count": agg["confirmed_n"], "amount": fen(agg["confirmed"])},
        "failed": {"count": agg["failed_n"], "amount": fen(agg["failed"])},
        "pending": {"count": agg["pending_n"], "amount": fen(agg["pending"])},
        "escalated": agg["escalated_n"],
    }
    out["balanced"] = rules.balanced(*((out[k]["count"], out[k]["amount"])
                                       for k in ("instructed", "confirmed", "failed", "pending")))
    return out


def instruction_list(user) -> QuerySet[Instruction]:
    return scope_queryset(Instruction.objects.select_related("batch"), user)


def batch_reconciliation(batch: InstructionBatch) -> dict:
    """Instructed = confirmed + failed + pending for one batch (one run)."""
    return {"batch": batch.pk, "source": batch.source_ref, **_totals(batch.instructions.all())}


def daily_reconciliation(*, user, date_from: date | None = None, date_to: date | None = None,
                         purpose: str | None = None) -> list[dict]:
    """Instructed = confirmed + failed + pending per batch day."""
    qs = instruction_list(user)
    if date_from:
        qs = qs.filter(batch__on__gte=date_from)
    if date_to:
        qs = qs.filter(batch__on__lte=date_to)
    if purpose:
        qs = qs.filter(purpose=purpose)
    days = sorted(set(qs.values_list("batch__on", flat=True)))
    return [{"day": d.isoformat(), **_totals(qs.filter(batch__on=d))} for d in days]


def open_by_age(*, user, today: date | None = None) -> list[dict]:
    """Pending and failed (not yet re-queued) instructions by days since their file was sent
    (the reconciliation chart)."""
    today = today or timezone.localdate()
    buckets = {rules.age_bucket(low): {"bucket": rules.age_bucket(low), "pending": 0, "failed": 0,
                                       "pending_amount": Decimal("0.00"), "failed_amount": Decimal("0.00")}
               for low, _high in rules.AGE_BUCKETS}
    rows = (instruction_list(user).filter(batch__status=BatchStatus.SENT)
            .filter(Q(status=S.PENDING) | Q(status=S.FAILED, released_at__isnull=True))
            .values_list("status", "amount", "batch__sent_at"))
    for status, amount, sent_at in rows:
        age = (today - timezone.localtime(sent_at).date()).days
        b = buckets[rules.age_bucket(max(age, 0))]
        b[status] += 1
        b[f"{status}_amount"] += amount
    return list(buckets.values())
