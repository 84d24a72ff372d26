"""Test helpers: take a batch through sign-off, the bank file and the bank's answer."""
from __future__ import annotations

from datetime import date

from yibao_site.models import Role, User
from yibao_site.services import staff_save

from . import services
from .models import BatchStatus, Instruction, InstructionBatch, ResultOutcome


def bank_staff():
    """A finance clerk and a supervisor for the bank steps (created once)."""
    fin = User.objects.filter(username="bank-finance").first() or staff_save(username="bank-finance", role=Role.FINANCE)
    sup = User.objects.filter(username="bank-supervisor").first() or staff_save(username="bank-supervisor",
                                                                                   role=Role.SUPERVISOR)
    return fin, sup


def send(batch: InstructionBatch, *, finance=None, supervisor=None) -> InstructionBatch:
    """Prepare, approve where required, produce the file and mark it sent."""
    fin, sup = bank_staff() if finance is None or supervisor is None else (finance, supervisor)
    batch.refresh_from_db()
    if batch.status == BatchStatus.CREATED:
        batch = services.batch_prepare(batch_id=batch.pk, actor=fin)
    if batch.status == BatchStatus.AWAITING_APPROVAL:
        batch = services.batch_approve(batch_id=batch.pk, actor=sup)
    if batch.status == BatchStatus.READY:
        f = services.bank_file_produce(batch_id=batch.pk, actor=fin)
        services.bank_file_mark_sent(file_id=f.pk, actor=fin)
    batch.refresh_from_db()
    return batch


def answer(batch: InstructionBatch, *, on: date | None = None, failed: dict[str, str] | None = None,
           finance=None) -> dict:
    """The bank's answer for every pending instruction of ``batch``: paid on ``on`` (default the
    batch's date), except the numbers in ``failed`` (number → reason)."""
    failed = failed or {}
    fin = finance or bank_staff()[0]
    rows = [services.ResultRow(number=i.number, outcome=ResultOutcome.FAILED if i.number in failed else ResultOutcome.PAID,
                               result_on=on or batch.on, amount=i.amount, account_number=i.account_number,
                               bank_reference="" if i.number in failed else f"BK{i.number}",
                               reason=failed.get(i.number, ""))
            for i in Instruction.objects.filter(batch=batch, status="pending").order_by("number")]
    return services.results_record(rows=rows, actor=fin) if rows else {"created": 0, "unchanged": 0}


def confirm(source_ref: str, *, purpose: str = "supplier", on: date | None = None) -> InstructionBatch | None:
    """Send the batch of ``source_ref`` and have the bank pay all of it."""
    batch = InstructionBatch.objects.filter(purpose=purpose, source_ref=source_ref).first()
    if batch is None:
        return None
    send(batch)
    answer(batch, on=on)
    return batch
