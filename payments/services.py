"""Writes of bank payments: instruction batches, sign-off, bank files, bank results,
payee corrections and the escalation of unconfirmed instructions.

How an instruction is never paid twice
--------------------------------------
1. **One instruction per payee per source run.**  ``(purpose, source_ref)`` is unique on both
   the batch and the instruction; :func:`batch_create` for a source already instructed returns
   the existing batch unchanged.
2. **Stable numbers.**  An instruction's number is assigned once, when it is created, from the
   batch and the payee's position in it; producing the file again reads the stored numbers, so
   the bank (which deduplicates on the number) pays each instruction once however many times
   a file is sent.
3. **One result per instruction.**  ``BankResult.instruction`` is unique; results are recorded
   under a row lock on the instructions (in primary-key order), so two imports of the same
   return file at the same moment end with one result each and the second changes nothing;
   a conflicting answer (paid in one file, failed in another) is refused and written nowhere.
4. **Lines released only after a reviewed correction.**  A failed instruction's lines stay out
   of the queue until a second person approves the corrected payee details; the source then
   puts them back and the next run instructs them under a new number.
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yibao_site.audit import audited_save, bulk_create_audited, bulk_update_audited
from yibao_site.models import Region, Role
from yibao_site.policy import PolicyCache

from . import rules
from .models import (
    BankFile, BankFileLayout, BankResult, BatchStatus, CorrectionStatus, FileFormat, Instruction, InstructionBatch,
    InstructionStatus, PayeeCorrection, PayeeKind, PersonBankAccount, Purpose, ResultChannel, ResultOutcome,
)
from .registry import handler_for

log = logging.getLogger(__name__)

FINANCE = frozenset({Role.FINANCE})
APPROVERS = frozenset({Role.SUPERVISOR})
REVIEWERS = frozenset({Role.FINANCE, Role.SUPERVISOR})
PREFIX = {Purpose.SUPPLIER: "GK", Purpose.ASSISTANCE: "JZ"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _require(actor, roles, message: str) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.has_role(*roles):
        raise PermissionDenied(message)


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


# ── instruction batches and the graded sign-off ────────────────────────────────────────────

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
    creates nothing and returns ``None``.
    """
    existing = InstructionBatch.objects.filter(purpose=purpose, source_ref=source_ref).first()
    if existing is not None:
        return existing
    if not payees:
        return None
    errors = []
    for p in payees:
        if not (p.account_number.strip() and p.account_name.strip() and p.bank_name.strip()):
            errors.append(_("收款方 %(payee)s 的银行账户信息不完整。") % {"payee": p.payee_code})
        if p.amount <= 0 or p.amount != rules.to_fen(p.amount):
            errors.append(_("收款方 %(payee)s 的金额应为正数且最多两位小数。") % {"payee": p.payee_code})
    if errors:
        raise ValidationError({"detail": errors})
    total = rules.to_fen(sum((p.amount for p in payees), Decimal("0")))
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
            account_number=p.account_number.strip()[:40], evidence=p.evidence[:200], amount=rules.to_fen(p.amount),
            memo=p.memo[:100],
        ) for seq, p in enumerate(ordered, start=1)
    ], Instruction, actor=actor, reason=_("生成支付指令"))
    log.info("payments: batch %s (%s) with %s instructions, %s yuan", batch.pk, source_ref, len(payees), total)
    return batch


def _lock_batch(batch_id: int) -> InstructionBatch:
    batch = InstructionBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise ValidationError({"detail": [_("支付指令批次不存在。")]})
    return batch


@transaction.atomic
def batch_prepare(*, batch_id: int, actor) -> InstructionBatch:
    """Finance prepares (制单) a batch: below the threshold it is ready for its bank file;
    above it, it waits for a supervisor's approval."""
    _require(actor, FINANCE, _("只有财务人员可以制单。"))
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
    _require(actor, APPROVERS, _("只有主管可以审批大额支付批次。"))
    batch = _lock_batch(batch_id)
    if batch.status != BatchStatus.AWAITING_APPROVAL:
        raise ValidationError({"detail": [_("该批次不在待审批状态。")]})
    if batch.prepared_by_id == actor.pk:
        raise PermissionDenied(_("制单人不能审批自己制单的批次。"))
    batch.approved_by, batch.approved_at, batch.status = actor, timezone.now(), BatchStatus.READY
    audited_save(batch, actor=actor, reason=_("主管审批通过"), update_fields=["approved_by", "approved_at", "status"])
    return batch


# ── bank files ─────────────────────────────────────────────────────────────────────────────

def default_layout() -> BankFileLayout:
    """The default layout; the shipped standard one when none is marked default."""
    layout = BankFileLayout.objects.filter(is_default=True).first()
    if layout is None:
        layout, _created = BankFileLayout.objects.get_or_create(code=rules.STANDARD_LAYOUT["code"],
                                                                defaults={**rules.STANDARD_LAYOUT, "is_default": True})
    return layout


def layout_errors(columns) -> list[str]:
    """Problems of a layout's column list (used by the admin form and the file producer)."""
    if not isinstance(columns, list) or not columns:
        return [_("列定义应为非空列表。")]
    errors = []
    for c in columns:
        if not isinstance(c, dict) or not str(c.get("header", "")).strip() or c.get("field") not in rules.FILE_FIELDS:
            errors.append(_("每列应有 header 和 field,field 取值:%(fields)s") % {"fields": ", ".join(rules.FILE_FIELDS)})
            break
    if "number" not in [c.get("field") for c in columns if isinstance(c, dict)]:
        errors.append(_("银行文件必须包含指令编号列(number),银行据此防止重复支付。"))
    return errors


def _safe(text: str) -> str:
    """A cell a spreadsheet will not evaluate as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def render_file(batch: InstructionBatch, layout: BankFileLayout) -> bytes:
    """The batch's instruction file in ``layout``; the same instructions always give the same bytes."""
    errors = layout_errors(layout.columns)
    if errors:
        raise ValidationError({"layout": errors})
    purpose = str(Purpose(batch.purpose).label)
    rows = []
    for ins in batch.instructions.order_by("number"):
        data = {"number": ins.number, "payee_name": ins.payee_name, "account_name": ins.account_name,
                "account_number": ins.account_number, "bank_name": ins.bank_name, "amount": ins.amount,
                "purpose": purpose, "memo": ins.memo, "payee_code": ins.payee_code, "batch": batch.source_ref}
        rows.append([rules.column_value(c["field"], data) for c in layout.columns])
    header = [str(c["header"]) for c in layout.columns]
    amount_cols = {i for i, c in enumerate(layout.columns) if c["field"] == "amount"}
    if layout.file_format == FileFormat.XLSX:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "instructions"
        ws.append(header)
        for row in rows:
            ws.append([Decimal(v) if i in amount_cols else _safe(v) for i, v in enumerate(row)])
        wb.properties.created = wb.properties.modified = datetime(2000, 1, 1)  # stable bytes
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[v if i in amount_cols else _safe(v) for i, v in enumerate(row)] for row in rows])
    return buf.getvalue().encode(layout.encoding)


@transaction.atomic
def bank_file_produce(*, batch_id: int, actor, layout: BankFileLayout | None = None) -> BankFile:
    """Produce the batch's bank file (finance), once it is ready (signed off where required).

    Producing it again (a lost file, another layout) yields the same instructions and numbers.
    """
    _require(actor, FINANCE, _("只有财务人员可以生成银行文件。"))
    batch = _lock_batch(batch_id)
    if batch.status == BatchStatus.CREATED:
        raise ValidationError({"detail": [_("批次尚未制单,不能生成银行文件。")]})
    if batch.status == BatchStatus.AWAITING_APPROVAL:
        raise ValidationError({"detail": [_("批次金额 %(total)s 元超过分级审批金额 %(limit)s 元,须主管审批后才能生成银行文件。")
                                          % {"total": batch.total_amount, "limit": batch.signoff_threshold}]})
    layout = layout or default_layout()
    content = render_file(batch, layout)
    n = batch.files.count() + 1
    bank_file = BankFile(batch=batch, layout=layout, filename=f"{batch.source_ref.replace(':', '-')}-{n}.{layout.file_format}",
                         content=content, sha256=hashlib.sha256(content).hexdigest(), count=batch.count,
                         total_amount=batch.total_amount, produced_by=actor)
    audited_save(bank_file, actor=actor, reason=_("生成银行文件"))
    return bank_file


@transaction.atomic
def bank_file_mark_sent(*, file_id: int, actor) -> BankFile:
    """Record that finance sent the file to the bank (who, when); the batch is then sent."""
    _require(actor, FINANCE, _("只有财务人员可以登记发送银行。"))
    bank_file = BankFile.objects.select_for_update().filter(pk=file_id).first()
    if bank_file is None:
        raise ValidationError({"detail": [_("银行文件不存在。")]})
    if bank_file.sent_at is not None:
        raise ValidationError({"detail": [_("该文件已于 %(at)s 登记发送。") % {"at": f"{timezone.localtime(bank_file.sent_at):%Y-%m-%d %H:%M}"}]})
    batch = _lock_batch(bank_file.batch_id)
    now = timezone.now()
    bank_file.sent_by, bank_file.sent_at = actor, now
    audited_save(bank_file, actor=actor, reason=_("发送银行"), update_fields=["sent_by", "sent_at"])
    if batch.status != BatchStatus.SENT:
        batch.status, batch.sent_by, batch.sent_at = BatchStatus.SENT, actor, now
        audited_save(batch, actor=actor, reason=_("发送银行"), update_fields=["status", "sent_by", "sent_at"])
    return bank_file


# ── bank results ───────────────────────────────────────────────────────────────────────────

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
    if actor is not None:
        _require(actor, FINANCE, _("只有财务人员可以登记银行结果。"))
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


# ── payee corrections (reviewed) ───────────────────────────────────────────────────────────

@transaction.atomic
def correction_submit(*, instruction_id: int, account_name: str, bank_name: str, account_number: str,
                      evidence: str, payee_kind: str | None = None, actor) -> PayeeCorrection:
    """Finance records the corrected payee details of a returned instruction, with evidence."""
    _require(actor, FINANCE, _("只有财务人员可以提交收款信息更正。"))
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
    _require(actor, REVIEWERS, _("只有财务或主管可以复核收款信息更正。"))
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
    _require(actor, REVIEWERS, _("只有财务或主管可以复核收款信息更正。"))
    if not (note or "").strip():
        raise ValidationError({"note": [_("请填写驳回理由。")]})
    c = _lock_correction(correction_id)
    if c.submitted_by_id == actor.pk:
        raise PermissionDenied(_("提交人不能复核自己提交的更正。"))
    c.status, c.reviewed_by, c.reviewed_at, c.review_note = CorrectionStatus.REJECTED, actor, timezone.now(), note[:200]
    audited_save(c, actor=actor, reason=_("驳回收款信息更正"),
                 update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    return c


# ── assistance payees ──────────────────────────────────────────────────────────────────────

ACCOUNT_FIELDS = ("account_name", "bank_name", "account_number", "payee_kind")


def payee_problem(account: PersonBankAccount | None, person) -> str:
    """Why a person's assistance cannot be instructed to ``account`` now ("" when it can):
    no account, suspended after a bank return (until a reviewed correction), incomplete, an
    own account not in the person's name, a relative's without the relation or the proof."""
    if account is None:
        return _("未登记救助金收款账户。")
    if account.suspended_at is not None:
        return _("银行退回(%(reason)s),收款信息更正复核通过前暂停支付。") % {"reason": account.suspended_reason}
    if not (account.account_name.strip() and account.bank_name.strip() and account.account_number.strip()):
        return _("收款账户信息不完整。")
    if account.payee_kind == PayeeKind.SELF and account.account_name.strip() != person.name.strip():
        return _("本人社会保障卡银行账户的户名应为本人姓名。")
    if account.payee_kind == PayeeKind.RELATIVE:
        if not account.relation:
            return _("近亲属账户未注明与本人的关系。")
        if not account.evidence_file:
            return _("近亲属账户缺少证明材料(关系证明、委托书)。")
    return ""


@transaction.atomic
def person_account_save(*, person, account_name: str, bank_name: str, account_number: str,
                        payee_kind: str = PayeeKind.SELF, evidence: str = "", relation: str = "",
                        evidence_upload=None, store_file: bool = True, actor=None) -> PersonBankAccount:
    """Record the account a person's assistance is paid to: their social-security card's bank
    account (in their own name), or a close relative's with the relation and the uploaded
    proof (关系证明、委托书; PDF/JPG/PNG sniffed from its bytes).

    An account suspended by a bank return keeps its account details until a second person
    reviews a correction (:func:`correction_approve`); only its relation and proof may be
    completed meanwhile.  ``store_file=False`` checks everything but writes no file (a form's
    validation pass inside a rolled-back savepoint)."""
    from yibao_site.uploads import inspect_upload

    from .models import PayeeRelation

    if actor is not None:
        _require(actor, FINANCE | {Role.WINDOW_CLERK}, _("您的角色无权维护收款账户。"))
    errors: dict[str, list[str]] = {}
    for name, value in (("account_name", account_name), ("bank_name", bank_name), ("account_number", account_number)):
        if not (value or "").strip():
            errors[name] = [_("必填。")]
    if payee_kind not in (PayeeKind.SELF, PayeeKind.RELATIVE):
        errors["payee_kind"] = [_("收款账户类型应为 self 或 relative。")]
    elif payee_kind == PayeeKind.SELF and (account_name or "").strip() != person.name.strip():
        errors["account_name"] = [_("本人社会保障卡银行账户的户名应为本人姓名。")]
    elif payee_kind == PayeeKind.RELATIVE:
        if not (evidence or "").strip():
            errors["evidence"] = [_("使用近亲属账户须注明关系与证明材料。")]
        if relation not in PayeeRelation.values:
            errors["relation"] = [_("使用近亲属账户须选择与本人的关系。")]
    facts = None
    if evidence_upload is not None:
        try:
            facts = inspect_upload(evidence_upload)
        except ValidationError as exc:
            errors["evidence_file"] = exc.message_dict.get("file", exc.messages)
    if errors:
        raise ValidationError(errors)
    account = PersonBankAccount.objects.select_for_update().filter(person=person).first() or PersonBankAccount(person=person)
    fields = {"account_name": account_name.strip(), "bank_name": bank_name.strip(),
              "account_number": account_number.strip(), "payee_kind": payee_kind, "evidence": (evidence or "").strip(),
              "relation": relation if payee_kind == PayeeKind.RELATIVE else ""}
    if account.suspended_at is not None and any(getattr(account, k) != fields[k] for k in ACCOUNT_FIELDS):
        raise ValidationError({"account_number": [_("该账户因银行退回暂停支付:更改账户须提交收款信息更正,经另一人复核。")]})
    if payee_kind == PayeeKind.RELATIVE and facts is None and not account.evidence_file:
        raise ValidationError({"evidence_file": [_("使用近亲属账户须上传证明材料(关系证明、委托书)。")]})
    if account.pk and facts is None and all(getattr(account, k) == v for k, v in fields.items()):
        return account
    for k, v in fields.items():
        setattr(account, k, v)
    if payee_kind == PayeeKind.SELF:
        account.evidence_file, account.evidence_name, account.evidence_sha256 = "", "", ""
    if facts is not None:
        account.evidence_sha256, account.evidence_name = facts["sha256"], facts["original_name"]
        if store_file:
            account.evidence_file.save(f"upload{facts['extension']}", evidence_upload, save=False)
    try:
        audited_save(account, actor=actor, reason=_("维护救助金收款账户"))
    except Exception:
        if facts is not None and store_file:
            account.evidence_file.delete(save=False)
        raise
    return account


def person_account_suspend(*, person_id: int, reason: str, actor=None) -> PersonBankAccount | None:
    """The bank returned a transfer to this account: no further instruction to it until a
    reviewed correction (called by the purpose handler inside the result's transaction)."""
    account = PersonBankAccount.objects.select_for_update().filter(person_id=person_id).first()
    if account is None or account.suspended_at is not None:
        return account
    account.suspended_at, account.suspended_reason = timezone.now(), reason[:200]
    audited_save(account, actor=actor, reason=_("银行退回,暂停支付"), update_fields=["suspended_at", "suspended_reason"])
    return account


def person_account_apply_correction(*, person, correction: PayeeCorrection, actor) -> PersonBankAccount:
    """A reviewed correction replaces the account's details and lifts the suspension.  A
    relative's relation and proof are kept only for the same account holder: a different
    relative needs their own proof before the next batch can pay them."""
    account = PersonBankAccount.objects.select_for_update().filter(person=person).first() or PersonBankAccount(person=person)
    same_holder = (account.payee_kind == PayeeKind.RELATIVE == correction.payee_kind
                   and account.account_name == correction.account_name)
    account.account_name, account.bank_name = correction.account_name, correction.bank_name
    account.account_number, account.payee_kind = correction.account_number, correction.payee_kind
    account.evidence = correction.evidence
    if not same_holder:
        account.relation, account.evidence_file, account.evidence_name, account.evidence_sha256 = "", "", "", ""
    account.suspended_at, account.suspended_reason = None, ""
    audited_save(account, actor=actor, reason=_("收款信息更正复核通过"))
    return account


# ── unconfirmed instructions ───────────────────────────────────────────────────────────────

@transaction.atomic
def instructions_escalate(*, on: date | None = None, actor=None) -> dict:
    """Escalate instructions still unconfirmed more than ``payments.pending_escalation_days``
    after their file was sent (每日提醒); each is escalated once, the first day it is late.
    Idempotent for a day: the same date twice escalates nothing new."""
    on = on or timezone.localdate()
    pending = (Instruction.objects.select_for_update(of=("self",)).select_related("batch__region")
               .filter(status=InstructionStatus.PENDING, batch__status=BatchStatus.SENT).order_by("pk"))
    cache, late, still = PolicyCache(), [], 0
    for ins in pending:
        days = cache.get(ins.batch.region, on).integer("payments.pending_escalation_days")
        if rules.pending_overdue(timezone.localtime(ins.batch.sent_at).date(), on, days):
            still += 1
            if ins.escalated_on is None:
                ins.escalated_on = on
                late.append(ins)
    bulk_update_audited(late, Instruction, ["escalated_on"], actor=actor, reason=_("超期未确认,已升级"))
    if still:
        log.warning("payments: %s instructions unconfirmed past the escalation period (%s new)", still, len(late))
    return {"as_of": on.isoformat(), "overdue": still, "escalated": len(late)}
