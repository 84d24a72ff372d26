"""The bank's answers (银行结果): checked against the instructions, recorded once each,
all-or-nothing, and passed to the source's purpose handler."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import bulk_update_audited

from ..models import (
    BankResult, BatchStatus, Instruction, InstructionBatch, InstructionStatus, ResultChannel, ResultOutcome,
)
from ..registry import handler_for
from ._common import FINANCE


@dataclass(frozen=True)
class ResultRow:
    number: str
    outcome: str
    result_on: date
    amount: Decimal
    account_number: str
    bank_reference: str = ""
    reason: str = ""


def result_errors(row: ResultRow, instruction: Instruction | None, *, today: date) -> dict[str, list[str]]:
    """Why the bank's answer ``row`` cannot be recorded for ``instruction`` (empty when it can).

    Unknown instructions, instructions never sent, and any difference of amount or account
    between the answer and the instruction are refused: the answer is about something else.
    """
    errors: dict[str, list[str]] = {}
    if instruction is None:
        return {"number": [_("没有编号为 %(n)s 的支付指令。") % {"n": row.number}]}
    if instruction.batch.status != BatchStatus.SENT:
        errors.setdefault("number", []).append(_("该指令所在批次尚未发送银行。"))
    if row.amount != instruction.amount:
        errors.setdefault("amount", []).append(_("金额 %(got)s 与指令金额 %(want)s 不符。")
                                               % {"got": row.amount, "want": instruction.amount})
    if row.account_number.strip() != instruction.account_number:
        errors.setdefault("account_number", []).append(_("收款账号与指令不符。"))
    if row.outcome not in ResultOutcome.values:
        errors.setdefault("result", []).append(_("结果应为 paid(成功)或 failed(失败)。"))
    elif row.outcome == ResultOutcome.PAID and not row.bank_reference.strip():
        errors.setdefault("bank_reference", []).append(_("支付成功须有银行流水号。"))
    elif row.outcome == ResultOutcome.FAILED and not row.reason.strip():
        errors.setdefault("reason", []).append(_("支付失败须注明原因。"))
    if row.result_on > today:
        errors.setdefault("date", []).append(_("银行处理日期不能晚于今天。"))
    elif row.result_on < instruction.batch.on:
        errors.setdefault("date", []).append(_("银行处理日期不能早于支付批次日期 %(on)s。")
                                             % {"on": instruction.batch.on.isoformat()})
    existing = getattr(instruction, "_result", None)
    if existing is not None and not _same(existing, row):
        errors.setdefault("result", []).append(
            _("该指令已登记银行结果(%(outcome)s,%(on)s),与本次不一致,不予处理。")
            % {"outcome": existing.get_outcome_display(), "on": existing.result_on.isoformat()})
    return errors


def _same(result: BankResult, row: ResultRow) -> bool:
    return (result.outcome == row.outcome and result.result_on == row.result_on
            and result.bank_reference == row.bank_reference.strip() and result.reason == row.reason.strip()[:200])


def instructions_for_results(numbers) -> dict[str, Instruction]:
    """Instructions by number with their batch and any result already recorded (``_result``)."""
    found = {i.number: i for i in Instruction.objects.select_related("batch").filter(number__in=set(numbers))}
    by_pk = {i.pk: i for i in found.values()}
    for ins in by_pk.values():
        ins._result = None
    for r in BankResult.objects.filter(instruction__in=by_pk):
        by_pk[r.instruction_id]._result = r
    return found


@transaction.atomic
def results_record(*, rows: list[ResultRow], channel: str = ResultChannel.FILE, actor=None) -> dict:
    """Record the bank's answers all-or-nothing; return ``{"created", "unchanged"}``.

    Locks the instructions (primary-key order), re-checks every row under the lock, writes
    one :class:`BankResult` per new answer, moves the instruction to confirmed or failed and
    tells the source (registry handler) in the same transaction.  An answer already recorded
    identically changes nothing (the same file imported twice); a different one is refused.
    """
    require_actor(actor, FINANCE, message=_("只有财务人员可以登记银行结果。"))
    numbers = [r.number for r in rows]
    if len(set(numbers)) != len(numbers):
        raise ValidationError({"number": [_("同一指令编号在本次结果中出现多次。")]})
    locked = {i.number: i for i in Instruction.objects.select_for_update().filter(number__in=numbers).order_by("pk")}
    batches = {b.pk: b for b in InstructionBatch.objects.filter(pk__in={i.batch_id for i in locked.values()})}
    results = {r.instruction_id: r for r in BankResult.objects.filter(instruction__in=locked.values())}
    today = timezone.localdate()
    errors: dict[str, list[str]] = {}
    new, touched = [], []
    for row in rows:
        ins = locked.get(row.number)
        if ins is not None:
            ins.batch = batches[ins.batch_id]
            ins._result = results.get(ins.pk)
        problems = result_errors(row, ins, today=today)
        if problems:
            for f, msgs in problems.items():
                errors.setdefault(f, []).extend(f"{row.number}: {m}" for m in msgs)
            continue
        if ins._result is not None:
            continue
        new.append(BankResult(instruction=ins, outcome=row.outcome, bank_reference=row.bank_reference.strip()[:60],
                              result_on=row.result_on, reason=row.reason.strip()[:200], channel=channel,
                              recorded_by=actor if getattr(actor, "is_authenticated", False) else None))
        ins.status = InstructionStatus.CONFIRMED if row.outcome == ResultOutcome.PAID else InstructionStatus.FAILED
        ins.result_on, ins.result_at = row.result_on, timezone.now()
        ins.bank_reference = row.bank_reference.strip()[:60] if row.outcome == ResultOutcome.PAID else ""
        ins.failure_reason = row.reason.strip()[:200] if row.outcome == ResultOutcome.FAILED else ""
        touched.append(ins)
    if errors:
        raise ValidationError(errors)
    BankResult.objects.bulk_create(new)
    bulk_update_audited(touched, Instruction, ["status", "result_on", "result_at", "bank_reference", "failure_reason"],
                        actor=actor, reason=_("登记银行结果"))
    by_purpose: dict[tuple[str, str], list[Instruction]] = {}
    for ins in touched:
        by_purpose.setdefault((ins.purpose, ins.status), []).append(ins)
    for (purpose, status), items in sorted(by_purpose.items()):
        handler = handler_for(purpose)
        (handler.confirmed if status == InstructionStatus.CONFIRMED else handler.failed)(items)
    return {"created": len(new), "unchanged": len(rows) - len(new)}
