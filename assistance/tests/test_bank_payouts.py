"""Assistance payout batches through the bank (issue 17): the worked flows of the Done-when.

Shiyan pack; amounts by hand (see ``test_ledger_payouts``):

* 甲 (低保, category 2): January 50 000 − basic 25 000 − critical 5 000 = 20 000 → assistance
  14 000, left 6 000; tilt approved 2024-02-20 → catch-up (6 000 − 5 000) × 50 % = 500.00,
  one ``payout`` entry.  Paid to 甲's own social-security card account.
* 乙 (因病致贫, category 4), determined 2024-03-15: retroactive 2023 (12 000 − 5 000) × 50 % =
  3 500.00 and 2024 (10 000 − 5 000) × 50 % = 2 500.00 → 6 000.00 in two entries, one
  instruction.  Paid to the account of 乙's daughter 丙, with the relation and an uploaded proof.
* 丁 (低保, like 甲): 500.00, no account yet → held and listed, not sent.

Batch 1 (25 Mar): 500.00 + 6 000.00 = 6 500.00 > the sign-off amount (set to 5 000.00 for
these tests): finance prepares, a supervisor approves.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from assistance import services
from assistance.bank_payouts.services import payout_batch_create
from assistance.models import Payout, PayoutBatch, PayoutLine, PayoutLineState
from claims.models import CashStatus, LedgerEntry
from payments import services as pay
from payments.importers import BankResultImporter
from payments.models import BatchStatus, Instruction, InstructionStatus, PersonBankAccount
from payments.selectors import batch_reconciliation
from payments.testing import answer, send
from yibao_site.actors import system_actor
from yibao_site.imports import read_table

from .conftest import upload
from .test_amounts import approve_determination


@pytest.fixture
def threshold_5000(shiyan):
    from yibao_site.services import policy_parameter_save

    policy_parameter_save(region=shiyan.city, key="payments.signoff_threshold", value="5000.00",
                          effective_from=date(2024, 1, 1), source="测试:救助金代发分级审批")


@pytest.fixture
def owed(staff, agent2, make_person, give_identity, settle_claim, file_case, threshold_5000):
    """甲 500.00 (tilt), 乙 6 000.00 (retroactive, two entries), 丁 500.00 (tilt)."""

    def tilt(name):
        person = make_person(name)
        give_identity(person, "subsistence", date(2022, 1, 1))
        settle_claim(person, date(2024, 1, 15), policy_scope_cost="50000", basic_paid="25000", critical_paid="5000")
        app = file_case(staff["agent"], person, kind="tilt", basis="", on=date(2024, 2, 20))
        app = services.application_verify(actor=agent2, application=app)
        app = services.application_approve(actor=staff["reviewer"], application=app, on=date(2024, 2, 20))
        assert app.amount == Decimal("500.00")
        return person, app

    jia, jia_app = tilt("甲")
    yi = make_person("乙")
    settle_claim(yi, date(2023, 6, 1), policy_scope_cost="30000", basic_paid="18000", total_cost="38000")
    settle_claim(yi, date(2024, 1, 10), policy_scope_cost="20000", basic_paid="10000", total_cost="21000")
    approve_determination(staff, agent2, yi, file_case)
    yi_app = file_case(staff["agent"], yi, kind="retroactive", basis="", on=date(2024, 3, 20))
    yi_app = services.application_verify(actor=agent2, application=yi_app)
    yi_app = services.application_approve(actor=staff["reviewer"], application=yi_app, on=date(2024, 3, 20))
    assert yi_app.amount == Decimal("6000.00")
    ding, ding_app = tilt("丁")
    pay.person_account_save(person=jia, account_name="甲", bank_name="十堰农商行", account_number="6230000000000001",
                            actor=staff["finance"])
    pay.person_account_save(person=yi, payee_kind="relative", relation="child", account_name="丙",
                            bank_name="十堰农商行", account_number="6230000000000002",
                            evidence="户口簿关系页、代收委托书", evidence_upload=upload("委托书.pdf"),
                            actor=staff["finance"])
    return {"jia": (jia, jia_app), "yi": (yi, yi_app), "ding": (ding, ding_app)}


def _csv(rows) -> bytes:
    lines = ["指令编号,收款账号,金额,处理结果,银行流水号,处理日期,失败原因"]
    lines += [",".join(str(c) for c in r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _cash(person):
    return sorted((e.total, e.cash_status) for e in LedgerEntry.objects.filter(person=person))


def test_two_persons_one_via_a_relative_one_failed_corrected_and_paid_in_the_next_batch(staff, owed, shiyan):
    (jia, jia_app), (yi, yi_app), (ding, ding_app) = owed["jia"], owed["yi"], owed["ding"]
    fin, sup = staff["finance"], staff["supervisor"]

    batch = payout_batch_create(region=shiyan.city, on=date(2024, 3, 25), actor=fin)
    ib = batch.instruction_batch
    ins = {i.payee_code: i for i in ib.instructions.all()}
    assert {k: (v.amount, v.account_name, v.account_number, v.payee_kind) for k, v in ins.items()} == {
        jia.id_number: (Decimal("500.00"), "甲", "6230000000000001", "self"),
        yi.id_number: (Decimal("6000.00"), "丙", "6230000000000002", "relative")}
    assert "子女" in ins[yi.id_number].evidence and "委托书.pdf" in ins[yi.id_number].evidence
    assert (batch.count, batch.total_amount, batch.held_count, batch.held_amount) == (
        2, Decimal("6500.00"), 1, Decimal("500.00"))
    held = PayoutLine.objects.get(batch=batch, state=PayoutLineState.HELD)
    assert (held.person, held.amount, held.hold_reason) == (ding, Decimal("500.00"), "未登记救助金收款账户。")
    assert _cash(yi) == [(Decimal("2500.00"), CashStatus.INSTRUCTED), (Decimal("3500.00"), CashStatus.INSTRUCTED)]
    assert _cash(ding) == [(Decimal("500.00"), CashStatus.TO_PAY)]

    # Graded sign-off: 6 500.00 > 5 000.00 — no file before a supervisor (not the preparer) approves.
    assert (ib.signoff_required, ib.signoff_threshold) == (True, Decimal("5000.00"))
    pay.batch_prepare(batch_id=ib.pk, actor=fin)
    with pytest.raises(ValidationError):
        pay.bank_file_produce(batch_id=ib.pk, actor=fin)
    with pytest.raises(PermissionDenied):
        pay.batch_approve(batch_id=ib.pk, actor=fin)
    pay.batch_approve(batch_id=ib.pk, actor=sup)
    first = pay.bank_file_produce(batch_id=ib.pk, actor=fin)
    again = pay.bank_file_produce(batch_id=ib.pk, actor=fin)
    assert bytes(first.content) == bytes(again.content)
    assert sorted(r["指令编号"] for r in read_table(bytes(first.content), "f.csv")) == sorted(
        i.number for i in ins.values())
    pay.bank_file_mark_sent(file_id=first.pk, actor=fin)

    # While the bank has them, the entries can be neither re-batched nor paid by hand.
    with pytest.raises(ValidationError):
        services.payout_create(actor=fin, application=yi_app, reference="手工")
    again_batch = payout_batch_create(region=shiyan.city, on=date(2024, 3, 25), actor=fin)
    assert again_batch.instruction_batch is None and again_batch.held_count == 1  # only 丁, still held

    # The bank pays 甲 and returns 乙 (丙's account closed).  The same file imported twice.
    a, b = ins[jia.id_number], ins[yi.id_number]
    content = _csv([(a.number, a.account_number, "500.00", "成功", "BK-A1", "2024-03-26", ""),
                    (b.number, b.account_number, "6000.00", "失败", "", "2024-03-26", "账户已销户")])
    report = BankResultImporter(actor=fin).run(read_table(content, "r.csv"))
    assert report.ok and report.created == 2
    state = (list(LedgerEntry.history.order_by("history_id").values_list("history_id", flat=True)),
             list(PayoutLine.history.values_list("history_id", flat=True)),
             list(PersonBankAccount.history.values_list("history_id", flat=True)), Payout.objects.count())
    report = BankResultImporter(actor=fin).run(read_table(content, "r.csv"))
    assert report.ok and (report.created, report.unchanged) == (0, 2)
    assert state == (list(LedgerEntry.history.order_by("history_id").values_list("history_id", flat=True)),
                     list(PayoutLine.history.values_list("history_id", flat=True)),
                     list(PersonBankAccount.history.values_list("history_id", flat=True)), Payout.objects.count())

    jia_entry = LedgerEntry.objects.get(person=jia)
    assert (jia_entry.cash_status, jia_entry.cash_reference) == (CashStatus.PAID, "BK-A1")
    assert (Payout.objects.get(application=jia_app).amount, Payout.objects.get(application=jia_app).reference) == (
        Decimal("500.00"), "BK-A1")
    assert _cash(yi) == [(Decimal("2500.00"), CashStatus.INSTRUCTED), (Decimal("3500.00"), CashStatus.INSTRUCTED)]
    assert not Payout.objects.filter(application=yi_app).exists()
    account = PersonBankAccount.objects.get(person=yi)
    assert account.suspended_at is not None and "账户已销户" in account.suspended_reason
    r = batch_reconciliation(ib)
    # 2 instructed 6 500.00 = 1 confirmed 500.00 + 1 failed 6 000.00 + 0 pending.
    assert (r["instructed"], r["confirmed"], r["failed"], r["pending"], r["balanced"]) == (
        {"count": 2, "amount": Decimal("6500.00")}, {"count": 1, "amount": Decimal("500.00")},
        {"count": 1, "amount": Decimal("6000.00")}, {"count": 0, "amount": Decimal("0.00")}, True)
    with pytest.raises(ValidationError):  # the suspended account changes only through a reviewed correction
        pay.person_account_save(person=yi, payee_kind="relative", relation="child", account_name="丙",
                                bank_name="十堰农商行", account_number="6230000000000099", evidence="委托书",
                                actor=fin)

    # A reviewed correction (finance submits, another person approves) puts 乙's entries back.
    correction = pay.correction_submit(instruction_id=b.pk, account_name="丙", bank_name="十堰农商行",
                                       account_number="6230000000000003", evidence="丙新开户的银行卡", actor=fin)
    with pytest.raises(PermissionDenied):
        pay.correction_approve(correction_id=correction.pk, actor=fin)
    pay.correction_approve(correction_id=correction.pk, actor=sup)
    assert _cash(yi) == [(Decimal("2500.00"), CashStatus.TO_PAY), (Decimal("3500.00"), CashStatus.TO_PAY)]
    account.refresh_from_db()
    assert (account.account_number, account.suspended_at, account.relation, bool(account.evidence_file)) == (
        "6230000000000003", None, "child", True)
    pay.person_account_save(person=ding, account_name="丁", bank_name="十堰农商行", account_number="6230000000000004",
                            actor=fin)

    # Batch 2 (28 Mar): 乙 again (a new number, the corrected account) + 丁 = 6 000.00 + 500.00.
    second = payout_batch_create(region=shiyan.city, on=date(2024, 3, 28), actor=fin)
    ins2 = {i.payee_code: i for i in second.instruction_batch.instructions.all()}
    assert {k: (v.amount, v.account_number) for k, v in ins2.items()} == {
        yi.id_number: (Decimal("6000.00"), "6230000000000003"), ding.id_number: (Decimal("500.00"), "6230000000000004")}
    assert ins2[yi.id_number].number != b.number and second.held_count == 0
    send(second.instruction_batch, finance=fin, supervisor=sup)
    answer(second.instruction_batch, on=date(2024, 3, 29), finance=fin)
    for person in (jia, yi, ding):
        assert {s for _t, s in _cash(person)} == {CashStatus.PAID}
    assert sorted(Payout.objects.values_list("amount", flat=True)) == [
        Decimal("500.00"), Decimal("500.00"), Decimal("6000.00")]
    assert Payout.objects.get(application=yi_app).reference == f"BK{ins2[yi.id_number].number}"
    assert set(Instruction.objects.filter(purpose="assistance").values_list("status", flat=True)) == {
        InstructionStatus.CONFIRMED, InstructionStatus.FAILED}
    with pytest.raises(ValidationError):  # nothing left to pay
        payout_batch_create(region=shiyan.city, on=date(2024, 3, 30), actor=fin)
    with pytest.raises(ValidationError):  # and the manual path cannot pay it again
        services.payout_create(actor=fin, application=yi_app, reference="手工")
    second.instruction_batch.refresh_from_db()
    assert PayoutBatch.objects.count() == 3 and second.instruction_batch.status == BatchStatus.SENT


def test_a_manual_payment_takes_the_entries_out_of_the_next_batch(staff, owed, shiyan):
    """Finance recorded 甲's 500.00 as paid outside the bank path: the batch instructs only 乙."""
    (jia, jia_app), (yi, _yi_app) = owed["jia"], owed["yi"]
    services.payout_create(actor=staff["finance"], application=jia_app, reference="线下-001")
    batch = payout_batch_create(region=shiyan.city, on=date(2024, 3, 25), actor=staff["finance"])
    assert list(batch.instruction_batch.instructions.values_list("payee_code", "amount")) == [
        (yi.id_number, Decimal("6000.00"))]


def test_only_finance_makes_a_batch_and_a_township_batch_takes_only_its_persons(staff, owed, shiyan, make_person):
    with pytest.raises(PermissionDenied):
        payout_batch_create(region=shiyan.city, on=date(2024, 3, 25), actor=staff["reviewer"])
    with pytest.raises(ValidationError):  # everyone of the fixture lives in township 1
        payout_batch_create(region=shiyan.townships[1], on=date(2024, 3, 25), actor=staff["finance"])
    batch = payout_batch_create(region=shiyan.townships[0], on=date(2024, 3, 25), actor=staff["finance"])
    assert batch.total_amount == Decimal("6500.00")


def test_a_relative_account_needs_the_relation_and_the_proof(staff, owed):
    jia = owed["jia"][0]
    with pytest.raises(ValidationError) as exc:
        pay.person_account_save(person=jia, payee_kind="relative", account_name="甲的配偶", bank_name="行",
                                account_number="1", evidence="结婚证", actor=staff["finance"])
    assert set(exc.value.message_dict) == {"relation"}
    with pytest.raises(ValidationError) as exc:
        pay.person_account_save(person=jia, payee_kind="relative", relation="spouse", account_name="甲的配偶",
                                bank_name="行", account_number="1", evidence="结婚证", actor=staff["finance"])
    assert set(exc.value.message_dict) == {"evidence_file"}
    with pytest.raises(ValidationError) as exc:  # not a PDF/JPG/PNG by its bytes
        pay.person_account_save(person=jia, payee_kind="relative", relation="spouse", account_name="甲的配偶",
                                bank_name="行", account_number="1", evidence="结婚证",
                                evidence_upload=upload("结婚证.pdf", b"MZ\x90\x00 not a pdf"), actor=staff["finance"])
    assert set(exc.value.message_dict) == {"evidence_file"}
    with pytest.raises(ValidationError) as exc:  # an own account is in the person's own name
        pay.person_account_save(person=jia, account_name="别人", bank_name="行", account_number="1",
                                actor=staff["finance"])
    assert set(exc.value.message_dict) == {"account_name"}


def test_the_reminder_escalates_unconfirmed_assistance_instructions(staff, owed, shiyan):
    """Sent and unanswered for more than ``payments.pending_escalation_days`` (3): escalated once."""
    from datetime import timedelta

    from django.utils import timezone

    batch = payout_batch_create(region=shiyan.city, on=date(2024, 3, 25), actor=staff["finance"])
    send(batch.instruction_batch, finance=staff["finance"], supervisor=staff["supervisor"])
    batch.instruction_batch.refresh_from_db()
    sent_on = timezone.localtime(batch.instruction_batch.sent_at).date()
    assert pay.instructions_escalate(on=sent_on + timedelta(days=3), actor=system_actor("payments.remind_unconfirmed"))["escalated"] == 0
    assert pay.instructions_escalate(on=sent_on + timedelta(days=4), actor=system_actor("payments.remind_unconfirmed")) == {
        "as_of": (sent_on + timedelta(days=4)).isoformat(), "overdue": 2, "escalated": 2}
    assert pay.instructions_escalate(on=sent_on + timedelta(days=4), actor=system_actor("payments.remind_unconfirmed"))["escalated"] == 0
    assert Instruction.objects.filter(purpose="assistance", escalated_on__isnull=False).count() == 2


def test_payments_relation_codes_are_members_relation_codes():
    """payments sits below members and keeps its own copy of the relation codes."""
    from members.models import Relation
    from payments.models import PayeeRelation

    assert PayeeRelation.choices == Relation.choices
