"""Every bank-payment write refuses a missing actor (issue 18: fail closed); the daily reminder
job passes its system actor and still escalates."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from payments import services, tasks
from payments.models import BankFile, BankResult, Instruction, InstructionBatch, PayeeCorrection, PayeeKind, Purpose
from payments.schedule import REMINDER_TASK
from payments.testing import bank_staff, send
from yibao_site.actors import system_actor


def _payees():
    return [services.PayeeLine(source_ref="p:1", payee_kind=PayeeKind.SELF, payee_code="X1", payee_name="张三",
                               account_name="张三", bank_name="农商行", account_number="6221", amount=Decimal("100.00"))]


@pytest.fixture
def sent(shiyan):
    fin, sup = bank_staff()
    batch = services.batch_create(purpose=Purpose.ASSISTANCE, source_ref="t:1", title="测试", region=shiyan.city,
                                  on=timezone.localdate(), payees=_payees(), actor=fin)
    return send(batch, finance=fin, supervisor=sup)


def _state():
    return (InstructionBatch.objects.count(), BankFile.objects.count(), BankResult.objects.count(),
            PayeeCorrection.objects.count(), list(Instruction.objects.values_list("status", "escalated_on")))


def test_every_write_service_refuses_a_missing_actor_and_writes_nothing(shiyan, sent):
    ins = sent.instructions.get()
    row = services.ResultRow(number=ins.number, outcome="paid", result_on=timezone.localdate(), amount=ins.amount,
                             account_number=ins.account_number, bank_reference="BK1")
    calls = {
        "batch_create": lambda a: services.batch_create(purpose=Purpose.ASSISTANCE, source_ref="t:2", title="x",
                                                        region=shiyan.city, on=date(2024, 5, 1), payees=_payees(),
                                                        actor=a),
        "batch_prepare": lambda a: services.batch_prepare(batch_id=sent.pk, actor=a),
        "batch_approve": lambda a: services.batch_approve(batch_id=sent.pk, actor=a),
        "bank_file_produce": lambda a: services.bank_file_produce(batch_id=sent.pk, actor=a),
        "bank_file_mark_sent": lambda a: services.bank_file_mark_sent(file_id=sent.files.get().pk, actor=a),
        "results_record": lambda a: services.results_record(rows=[row], actor=a),
        "correction_submit": lambda a: services.correction_submit(
            instruction_id=ins.pk, account_name="张三", bank_name="农商行", account_number="6", evidence="e", actor=a),
        "correction_approve": lambda a: services.correction_approve(correction_id=0, actor=a),
        "correction_reject": lambda a: services.correction_reject(correction_id=0, note="n", actor=a),
        "person_account_save": lambda a: services.person_account_save(
            person=None, account_name="张三", bank_name="农商行", account_number="6221", actor=a),
        "instructions_escalate": lambda a: services.instructions_escalate(on=timezone.localdate() + timedelta(days=9),
                                                                          actor=a),
    }
    before = _state()
    job = system_actor(REMINDER_TASK)
    for name, call in calls.items():
        with pytest.raises(PermissionDenied):
            call(None)
        if name not in ("batch_create", "instructions_escalate"):  # jobs call only these two
            with pytest.raises(PermissionDenied):
                call(job)
        assert _state() == before, name


def test_the_daily_reminder_job_escalates_with_its_system_actor(sent):
    """Sent today; pending_escalation_days = 3: on day +4 the job escalates the instruction."""
    day = timezone.localdate() + timedelta(days=4)
    assert tasks.remind_unconfirmed.apply(kwargs={"as_of": day.isoformat()}).get() == {
        "as_of": day.isoformat(), "overdue": 1, "escalated": 1}
    ins = sent.instructions.get()
    assert ins.escalated_on == day
    latest = ins.history.order_by("-history_id").first()
    assert (latest.history_user, latest.history_change_reason) == (None, "超期未确认,已升级")
