"""Payee corrections after a bank return, reviewed by a second person (复核后重新排队)."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save

from ..models import CorrectionStatus, Instruction, InstructionStatus, PayeeCorrection, PayeeKind
from ..registry import handler_for
from ._common import FINANCE, REVIEWERS


@transaction.atomic
def correction_submit(*, instruction_id: int, account_name: str, bank_name: str, account_number: str,
                      evidence: str, payee_kind: str | None = None, actor) -> PayeeCorrection:
    """Finance records the corrected payee details of a returned instruction, with evidence."""
    require_actor(actor, FINANCE, message=_("只有财务人员可以提交收款信息更正。"))
    ins = Instruction.objects.select_for_update().filter(pk=instruction_id).first()
    if ins is None:
        raise ValidationError({"detail": [_("支付指令不存在。")]})
    if ins.status != InstructionStatus.FAILED:
        raise ValidationError({"detail": [_("只有银行退回的指令可以更正收款信息。")]})
    if PayeeCorrection.objects.filter(instruction=ins).exclude(status=CorrectionStatus.REJECTED).exists():
        raise ValidationError({"detail": [_("该指令已有待复核或已通过的更正。")]})
    kind = payee_kind or ins.payee_kind
    errors: dict[str, list[str]] = {}
    for name, value in (("account_name", account_name), ("bank_name", bank_name), ("account_number", account_number),
                        ("evidence", evidence)):
        if not (value or "").strip():
            errors[name] = [_("必填。")]
    if kind not in PayeeKind.values or (ins.payee_kind == PayeeKind.SUPPLIER) != (kind == PayeeKind.SUPPLIER):
        errors["payee_kind"] = [_("收款账户类型不适用于该收款方。")]
    if errors:
        raise ValidationError(errors)
    correction = PayeeCorrection(instruction=ins, account_name=account_name.strip()[:200],
                                 bank_name=bank_name.strip()[:100], account_number=account_number.strip()[:40],
                                 payee_kind=kind, evidence=evidence.strip()[:200], submitted_by=actor)
    audited_save(correction, actor=actor, reason=_("提交收款信息更正"))
    return correction


def _lock_correction(correction_id: int) -> PayeeCorrection:
    c = PayeeCorrection.objects.select_for_update().select_related("instruction").filter(pk=correction_id).first()
    if c is None:
        raise ValidationError({"detail": [_("更正记录不存在。")]})
    if c.status != CorrectionStatus.SUBMITTED:
        raise ValidationError({"detail": [_("该更正已复核。")]})
    return c


@transaction.atomic
def correction_approve(*, correction_id: int, note: str = "", actor) -> PayeeCorrection:
    """A second person approves the correction: the source updates the payee and returns the
    failed lines to the queue of its next run (复核后重新排队)."""
    require_actor(actor, REVIEWERS, message=_("只有财务或主管可以复核收款信息更正。"))
    c = _lock_correction(correction_id)
    if c.submitted_by_id == actor.pk:
        raise PermissionDenied(_("提交人不能复核自己提交的更正。"))
    c.status, c.reviewed_by, c.reviewed_at, c.review_note = CorrectionStatus.APPROVED, actor, timezone.now(), note[:200]
    audited_save(c, actor=actor, reason=_("复核通过收款信息更正"),
                 update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    ins = Instruction.objects.select_for_update().get(pk=c.instruction_id)
    handler_for(ins.purpose).corrected(ins, c, actor)
    ins.released_at = timezone.now()
    audited_save(ins, actor=actor, reason=_("收款信息已更正,明细重回待支付队列"), update_fields=["released_at"])
    return c


@transaction.atomic
def correction_reject(*, correction_id: int, note: str, actor) -> PayeeCorrection:
    """The reviewer refuses the correction (with a reason); finance may submit another."""
    require_actor(actor, REVIEWERS, message=_("只有财务或主管可以复核收款信息更正。"))
    if not (note or "").strip():
        raise ValidationError({"note": [_("请填写驳回理由。")]})
    c = _lock_correction(correction_id)
    if c.submitted_by_id == actor.pk:
        raise PermissionDenied(_("提交人不能复核自己提交的更正。"))
    c.status, c.reviewed_by, c.reviewed_at, c.review_note = CorrectionStatus.REJECTED, actor, timezone.now(), note[:200]
    audited_save(c, actor=actor, reason=_("驳回收款信息更正"),
                 update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    return c
