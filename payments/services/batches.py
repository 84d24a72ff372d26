"""Instruction batches: one instruction per payee of a source run, numbered once, and the
graded sign-off (制单, 分级审批)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save, bulk_create_audited
from yibao_site.models import Region
from yibao_site.money import to_fen
from yibao_site.policy import PolicyCache

from .. import rules
from ..models import BatchStatus, Instruction, InstructionBatch, Purpose
from ._common import APPROVERS, FINANCE, _lock_batch


log = logging.getLogger("payments.services")


PREFIX = {Purpose.SUPPLIER: "GK", Purpose.ASSISTANCE: "JZ"}


@dataclass(frozen=True)
class PayeeLine:
    """One payee of a source run, as the source hands it over (already summed per payee)."""

    source_ref: str
    payee_kind: str
    payee_code: str
    payee_name: str
    account_name: str
    bank_name: str
    account_number: str
    amount: Decimal
    evidence: str = ""
    memo: str = ""


def _signoff_terms(regions: list[Region], on: date) -> tuple[Decimal | None, dict, str]:
    """The lowest sign-off threshold in force in any of ``regions`` on ``on`` (a batch that
    spans regions is held to the strictest of them), with the record of the parameter used."""
    cache, best = PolicyCache(), None
    for region in regions:
        snap = cache.get(region, on)
        value = snap.decimal("payments.signoff_threshold")
        if best is None or value < best[0]:
            best = (value, snap.used_record(), snap.version)
    return best if best is not None else (None, {}, "")


@transaction.atomic
def batch_create(*, purpose: str, source_ref: str, title: str, region: Region, on: date,
                 payees: list[PayeeLine], policy_regions: list[Region] | None = None,
                 actor=None) -> InstructionBatch | None:
    """Create the instructions of one source run: one per payee, each numbered once.

    Idempotent per ``(purpose, source_ref)``: a source already instructed gets its batch back
    unchanged (its numbers, amounts and accounts as first written).  A run with no payee
    creates nothing and returns ``None``.  Finance builds it, or a scheduled job (the supplier
    payment run) with its system actor.
    """
    require_actor(actor, FINANCE, system=True)
    existing = InstructionBatch.objects.filter(purpose=purpose, source_ref=source_ref).first()
    if existing is not None:
        return existing
    if not payees:
        return None
    errors = []
    for p in payees:
        if not (p.account_number.strip() and p.account_name.strip() and p.bank_name.strip()):
            errors.append(_("收款方 %(payee)s 的银行账户信息不完整。") % {"payee": p.payee_code})
        if p.amount <= 0 or p.amount != to_fen(p.amount):
            errors.append(_("收款方 %(payee)s 的金额应为正数且最多两位小数。") % {"payee": p.payee_code})
    if errors:
        raise ValidationError({"detail": errors})
    total = to_fen(sum((p.amount for p in payees), Decimal("0")))
    threshold, used, version = _signoff_terms(list(policy_regions or [region]), on)
    batch = InstructionBatch(
        purpose=purpose, source_ref=source_ref, title=title[:120], region=region, on=on, count=len(payees),
        total_amount=total, signoff_threshold=threshold, signoff_required=rules.signoff_required(total, threshold),
        policy_used=used, policy_version=version,
    )
    try:
        with transaction.atomic():
            audited_save(batch, actor=actor, reason=_("生成支付指令批次"))
    except IntegrityError:  # a concurrent caller created it first
        return InstructionBatch.objects.get(purpose=purpose, source_ref=source_ref)
    ordered = sorted(payees, key=lambda p: p.source_ref)
    bulk_create_audited([
        Instruction(
            batch=batch, purpose=purpose, source_ref=p.source_ref,
            number=f"{PREFIX[purpose]}{on:%Y%m%d}{batch.pk:06d}{seq:05d}",
            payee_kind=p.payee_kind, payee_code=p.payee_code[:40], payee_name=p.payee_name[:200],
            account_name=p.account_name.strip()[:200], bank_name=p.bank_name.strip()[:100],
            account_number=p.account_number.strip()[:40], evidence=p.evidence[:200], amount=to_fen(p.amount),
            memo=p.memo[:100],
        ) for seq, p in enumerate(ordered, start=1)
    ], Instruction, actor=actor, reason=_("生成支付指令"))
    log.info("payments: batch %s (%s) with %s instructions, %s yuan", batch.pk, source_ref, len(payees), total)
    return batch


@transaction.atomic
def batch_prepare(*, batch_id: int, actor) -> InstructionBatch:
    """Finance prepares (制单) a batch: below the threshold it is ready for its bank file;
    above it, it waits for a supervisor's approval."""
    require_actor(actor, FINANCE, message=_("只有财务人员可以制单。"))
    batch = _lock_batch(batch_id)
    if batch.status != BatchStatus.CREATED:
        raise ValidationError({"detail": [_("该批次已制单(%(status)s)。") % {"status": batch.get_status_display()}]})
    batch.prepared_by, batch.prepared_at = actor, timezone.now()
    batch.status = BatchStatus.AWAITING_APPROVAL if batch.signoff_required else BatchStatus.READY
    audited_save(batch, actor=actor, reason=_("财务制单"), update_fields=["prepared_by", "prepared_at", "status"])
    return batch


@transaction.atomic
def batch_approve(*, batch_id: int, actor) -> InstructionBatch:
    """A supervisor approves a batch above the sign-off threshold (分级审批); never the preparer."""
    require_actor(actor, APPROVERS, message=_("只有主管可以审批大额支付批次。"))
    batch = _lock_batch(batch_id)
    if batch.status != BatchStatus.AWAITING_APPROVAL:
        raise ValidationError({"detail": [_("该批次不在待审批状态。")]})
    if batch.prepared_by_id == actor.pk:
        raise PermissionDenied(_("制单人不能审批自己制单的批次。"))
    batch.approved_by, batch.approved_at, batch.status = actor, timezone.now(), BatchStatus.READY
    audited_save(batch, actor=actor, reason=_("主管审批通过"), update_fields=["approved_by", "approved_at", "status"])
    return batch
