"""Writes of assistance payout batches: the batch of a region and its instructions.

How an entry is never paid twice
--------------------------------
* A batch row-locks the region's ``to_pay`` entries (primary-key order) and moves the ones it
  instructs to ``instructed`` in the same transaction; a concurrent batch for the same region
  waits for the lock and then no longer sees them (PostgreSQL re-checks the condition on the
  locked row).  The partial unique constraint ``payout_line_one_live`` is the last line of
  defence: an entry is in at most one instructed, confirmed or failed line.
* One instruction per person per batch (``payments``: ``(purpose, source_ref)`` unique, the
  number stored once): producing the bank file again carries the same numbers.
* ``claims`` refuses to mark an ``instructed`` entry paid by hand, so neither the ledger's
  manual settlement nor ``assistance.services.payout_create`` can pay what the bank is paying.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from claims.models import CashStatus, LedgerEntry
from claims.public import ledger_entries_bank_move
from members.models import Person
from payments import public as pay_rules
from payments.models import PayeeKind, PersonBankAccount, Purpose
from payments.public import PayeeLine, batch_create, payee_problem
from yibao_site.audit import audited_save, bulk_create_audited
from yibao_site.models import Region, RegionLevel, Role

from ..models import PayoutBatch, PayoutLine, PayoutLineState

log = logging.getLogger(__name__)
ZERO = Decimal("0.00")


def _require_finance(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.has_role(Role.FINANCE):
        raise PermissionDenied(_("只有财务人员可以生成救助金代发批次。"))


def owed_entries(region: Region):
    """The ledger entries owed to persons of ``region`` and below, not yet instructed."""
    return LedgerEntry.objects.filter(cash_status=CashStatus.TO_PAY, person__township__path__startswith=region.path)


def account_evidence(account: PersonBankAccount) -> str:
    """What the instruction records as the basis of the account (账户依据)."""
    if account.payee_kind == PayeeKind.RELATIVE:
        from members.models import Relation

        return (_("近亲属账户(%(relation)s),证明材料 %(name)s(SHA-256 %(sha)s)")
                % {"relation": Relation(account.relation).label, "name": account.evidence_name,
                   "sha": account.evidence_sha256[:12]})[:200]
    return _("本人社会保障卡银行账户")


@transaction.atomic
def payout_batch_create(*, region: Region, on: date, actor) -> PayoutBatch:
    """Finance prepares the payout batch of ``region`` on ``on`` (救助金代发批次).

    Takes every ``to_pay`` entry of the region's persons; per person, one instruction for the
    sum of their entries to their payable account (:func:`payments.services.payee_problem`),
    or a held line with the reason when there is none (listed, not sent; the entries stay in
    the queue).  The instructions go through :mod:`payments` (purpose ``assistance``): stable
    numbers, graded sign-off above ``payments.signoff_threshold``, the bank file, the results.
    """
    _require_finance(actor)
    if region.level == RegionLevel.VILLAGE:
        raise ValidationError({"region": [_("代发批次按市、县或乡镇生成。")]})
    entries = list(owed_entries(region).select_for_update(of=("self",)).order_by("pk"))
    odd = [e.pk for e in entries if e.total <= 0]
    if odd:  # a 补付 is positive by construction; anything else is for a person to look at, not the bank
        log.warning("assistance payouts: to_pay entries %s have no positive amount; left out", odd[:20])
        entries = [e for e in entries if e.total > 0]
    if not entries:
        raise ValidationError({"detail": [_("%(region)s 没有待支付的救助金或补付款项。") % {"region": region.name}]})
    by_person: dict[int, list[LedgerEntry]] = defaultdict(list)
    for e in entries:
        by_person[e.person_id].append(e)
    persons = Person.objects.in_bulk(list(by_person))
    accounts = {a.person_id: a for a in PersonBankAccount.objects.filter(person_id__in=list(by_person))}
    batch = PayoutBatch(region=region, on=on, created_by=actor)
    audited_save(batch, actor=actor, reason=_("生成救助金代发批次"))

    payees, held, instructed = [], [], []
    for pid in sorted(by_person):
        person, account = persons[pid], accounts.get(pid)
        amount = pay_rules.to_fen(sum((e.total for e in by_person[pid]), ZERO))
        problem = payee_problem(account, person)
        if problem:
            held.append((pid, amount, problem))
            continue
        instructed.append(pid)
        payees.append(PayeeLine(
            source_ref=f"payout:{batch.pk}:{pid}", payee_kind=account.payee_kind, payee_code=person.id_number,
            payee_name=person.name, account_name=account.account_name, bank_name=account.bank_name,
            account_number=account.account_number, amount=amount, evidence=account_evidence(account),
            memo=_("医疗救助金 %(n)s 笔") % {"n": len(by_person[pid])}))
    ibatch = None
    if payees:
        ibatch = batch_create(purpose=Purpose.ASSISTANCE, source_ref=f"payout:{batch.pk}",
                              title=_("医疗救助金代发 %(region)s %(on)s") % {"region": region.name, "on": on.isoformat()},
                              region=region, on=on, payees=payees, actor=actor)
    ins_by_person = {}
    if ibatch is not None:
        ins_by_person = {int(i.source_ref.rsplit(":", 1)[1]): i for i in ibatch.instructions.all()}
    held_reason = {pid: problem for pid, _a, problem in held}
    lines, taken = [], []
    for pid in sorted(by_person):
        for e in by_person[pid]:
            if pid in ins_by_person:
                lines.append(PayoutLine(batch=batch, entry=e, person_id=pid, amount=e.total,
                                        state=PayoutLineState.INSTRUCTED, instruction=ins_by_person[pid]))
                taken.append(e)
            else:
                lines.append(PayoutLine(batch=batch, entry=e, person_id=pid, amount=e.total,
                                        state=PayoutLineState.HELD, hold_reason=held_reason[pid][:200]))
    bulk_create_audited(lines, PayoutLine, actor=actor, reason=_("救助金代发明细"))
    ledger_entries_bank_move(entries=taken, to=CashStatus.INSTRUCTED, actor=actor, reason=_("已发银行代发指令"))
    batch.instruction_batch = ibatch
    batch.count, batch.total_amount = len(payees), (ibatch.total_amount if ibatch else ZERO)
    batch.held_count = len(held)
    batch.held_amount = pay_rules.to_fen(sum((a for _p, a, _r in held), ZERO))
    audited_save(batch, actor=actor, reason=_("救助金代发批次合计"),
                 update_fields=["instruction_batch", "count", "total_amount", "held_count", "held_amount"])
    log.info("assistance payouts: batch %s for %s: %s instructed (%s yuan), %s held", batch.pk, region.code,
             len(payees), batch.total_amount, len(held))
    return batch
