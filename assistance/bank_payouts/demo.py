"""Demo data of assistance payouts through the bank for ``seed_demo`` (after ``assistance``):
payee accounts (own card; a relative's with the relation and a proof), one payout batch of the
city with a held person, signed off, its file produced and sent, the bank's answer (one paid,
one returned) and the returned one's correction waiting for review.  A second run changes
nothing."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from claims.models import CashStatus, LedgerEntry
from members.models import Person
from payments import services as pay
from payments.models import BatchStatus, PersonBankAccount, ResultOutcome
from yibao_site.models import Role

from ..demo import PDF, _user
from ..models import PayoutBatch
from .services import payout_batch_create


def seed(ctx) -> None:
    log = getattr(ctx, "log", print)
    if PayoutBatch.objects.exists():
        log("  assistance payouts: already seeded")
        return
    finance = _user(ctx, Role.FINANCE, "demo_finance")
    supervisor = _user(ctx, Role.SUPERVISOR, "demo_supervisor")
    owed = list(Person.objects.filter(pk__in=LedgerEntry.objects.filter(cash_status=CashStatus.TO_PAY)
                                      .values("person_id")).order_by("pk")[:3])
    if len(owed) < 2:
        log("  assistance payouts: fewer than two persons are owed anything; no batch")
        return
    own, via_relative = owed[0], owed[1]
    if not PersonBankAccount.objects.filter(person=own).exists():
        pay.person_account_save(person=own, account_name=own.name, bank_name="湖北十堰农村商业银行",
                                account_number=f"6230{own.pk:012d}", actor=finance)
    if not PersonBankAccount.objects.filter(person=via_relative).exists():
        pay.person_account_save(person=via_relative, payee_kind="relative", relation="child",
                                account_name=f"{via_relative.name[:1]}家子女", bank_name="中国邮政储蓄银行十堰分行",
                                account_number=f"6210{via_relative.pk:012d}", evidence="【演示】户口簿关系页、代收委托书",
                                evidence_upload=SimpleUploadedFile("代收委托书.pdf", PDF, content_type="application/pdf"),
                                actor=finance)
    try:
        batch = payout_batch_create(region=ctx.jurisdiction.city, on=ctx.today, actor=finance)
    except (ValidationError, PermissionDenied) as exc:
        log(f"  assistance payouts: no batch ({'; '.join(getattr(exc, 'messages', [str(exc)]))[:80]})")
        return
    ib = batch.instruction_batch
    if ib is None:
        return
    ib = pay.batch_prepare(batch_id=ib.pk, actor=finance)
    if ib.status == BatchStatus.AWAITING_APPROVAL:
        ib = pay.batch_approve(batch_id=ib.pk, actor=supervisor)
    bank_file = pay.bank_file_produce(batch_id=ib.pk, actor=finance)
    pay.bank_file_mark_sent(file_id=bank_file.pk, actor=finance)
    instructions = list(ib.instructions.order_by("number"))
    rows = []
    for k, ins in enumerate(instructions):
        failed = ins.payee_code == via_relative.id_number
        rows.append(pay.ResultRow(number=ins.number, outcome=ResultOutcome.FAILED if failed else ResultOutcome.PAID,
                                  result_on=ctx.today, amount=ins.amount, account_number=ins.account_number,
                                  bank_reference="" if failed else f"DEMO-BK-{k + 1:04d}",
                                  reason="【演示】户名与账号不符" if failed else ""))
    pay.results_record(rows=rows, actor=finance)
    returned = next((i for i in instructions if i.payee_code == via_relative.id_number), None)
    if returned is not None:
        pay.correction_submit(instruction_id=returned.pk, account_name=f"{via_relative.name[:1]}家子女",
                              bank_name="中国邮政储蓄银行十堰分行", account_number=f"6217{via_relative.pk:012d}",
                              evidence="【演示】子女新开户银行卡复印件", actor=finance)
    log(f"  assistance payouts: batch {batch.pk}: {batch.count} instructed ({batch.total_amount} yuan), "
        f"{batch.held_count} held; one returned, its correction awaiting review")
