"""Money leaves through a bank (issue 17): the worked flows of its Done-when.

World (procurement's test world): supplier S001 sells P001 at 12.34, S002 sells P002 at
590.00; H001 is in township 1, H002 in township 2; payment due 30 days after acceptance.
"""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from payments import services as pay
from payments.importers import BankResultImporter
from payments.models import (
    BankResult, BatchStatus, Instruction, InstructionBatch, InstructionStatus, PayeeCorrection,
)
from payments.selectors import batch_reconciliation, daily_reconciliation, open_by_age
from payments.testing import answer, send
from procurement import selectors as proc_selectors
from procurement import services
from procurement.models import Delivery, DeliveryStatus, HospitalDeduction, LineState, PaymentLine
from procurement.testing import RUN_JOB
from procurement.tests.conftest import build_world
from yibao_site.imports import read_table


@pytest.fixture
def world(shiyan):
    return build_world(shiyan)


def _batch(run) -> InstructionBatch:
    return InstructionBatch.objects.get(purpose="supplier", source_ref=f"run:{run.pk}")


def _csv(rows) -> bytes:
    lines = ["指令编号,收款账号,金额,处理结果,银行流水号,处理日期,失败原因"]
    lines += [",".join(str(c) for c in r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _two_supplier_run(world):
    """S001: 100 × 12.34 = 1 234.00 (H001); S002: 2 × 590.00 = 1 180.00 (H002). Accepted 2 Mar."""
    a = world.deliver_accepted(quantity=100, accepted_on=date(2024, 3, 2))
    b = world.deliver_accepted(product=world.stent, hospital=world.h2, quantity=2, accepted_on=date(2024, 3, 2))
    run = services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    return a, b, run


def test_a_run_instructs_one_instruction_per_supplier_and_its_file_produced_twice_is_the_same(world, staff):
    a, b, run = _two_supplier_run(world)
    batch = _batch(run)
    ins = {i.payee_code: i for i in batch.instructions.all()}
    assert {k: (v.amount, v.account_number, v.memo) for k, v in ins.items()} == {
        "S001": (Decimal("1234.00"), "4200100100000001", "ZF20240310-S001"),
        "S002": (Decimal("1180.00"), "4200200200000002", "ZF20240310-S002")}
    # 1 234.00 + 1 180.00 = 2 414.00 ≤ 500 000.00: finance's preparation is enough.
    assert (batch.count, batch.total_amount, batch.signoff_required) == (2, Decimal("2414.00"), False)
    assert Delivery.objects.get(pk=a.pk).status == DeliveryStatus.INSTRUCTED

    with pytest.raises(ValidationError):  # not prepared yet
        pay.bank_file_produce(batch_id=batch.pk, actor=staff["finance"])
    pay.batch_prepare(batch_id=batch.pk, actor=staff["finance"])
    first = pay.bank_file_produce(batch_id=batch.pk, actor=staff["finance"])
    again = pay.bank_file_produce(batch_id=batch.pk, actor=staff["finance"])
    assert first.pk != again.pk and first.sha256 == again.sha256 and bytes(first.content) == bytes(again.content)
    numbers = sorted(ins_.number for ins_ in ins.values())
    rows = read_table(bytes(first.content), "f.csv")
    assert sorted(r["指令编号"] for r in rows) == numbers and {r["金额"] for r in rows} == {"1234.00", "1180.00"}
    # Running the same date again (or re-instructing the run) adds no instruction.
    services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    assert Instruction.objects.count() == 2 and sorted(Instruction.objects.values_list("number", flat=True)) == numbers


def test_a_failed_line_is_reinstructed_after_a_reviewed_correction_and_confirmed(world, staff):
    """S002's account was closed: the bank pays S001 (1 234.00) and returns S002 (1 180.00).
    Reconciliation of the run: 2 instructed (2 414.00) = 1 confirmed (1 234.00) + 1 failed
    (1 180.00) + 0 pending.  H001's deduction is 1 234.00; H002 has none until S002 is paid.
    After the corrected account is reviewed, the 20 Mar run instructs S002 again (a new number,
    the new account), the bank pays it on 21 Mar: 19 days after acceptance, on time."""
    a, b, run = _two_supplier_run(world)
    batch = send(_batch(run), finance=staff["finance"], supervisor=staff["supervisor"])
    s2 = batch.instructions.get(payee_code="S002")
    answer(batch, on=date(2024, 3, 11), failed={s2.number: "账户已销户"}, finance=staff["finance"])

    rec = batch_reconciliation(batch)
    assert (rec["instructed"], rec["confirmed"], rec["failed"], rec["pending"]) == (
        {"count": 2, "amount": Decimal("2414.00")}, {"count": 1, "amount": Decimal("1234.00")},
        {"count": 1, "amount": Decimal("1180.00")}, {"count": 0, "amount": Decimal("0.00")})
    assert rec["balanced"]
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, a.paid_on, b.status, b.paid_on) == (DeliveryStatus.PAID, date(2024, 3, 11),
                                                          DeliveryStatus.RETURNED, None)
    assert PaymentLine.objects.get(delivery=a).days_to_pay == 9  # 2 Mar → 11 Mar, the bank's date
    assert {d.hospital.code: d.amount for d in HospitalDeduction.objects.all()} == {"H001": Decimal("1234.00")}

    # A returned line waits: the next run does not take it before the payee is corrected.
    assert services.payment_run_start(as_of=date(2024, 3, 15), actor=RUN_JOB).count == 0
    with pytest.raises(ValidationError):  # evidence is required
        pay.correction_submit(instruction_id=s2.pk, account_name="鄂西器械有限公司", bank_name="中国农业银行十堰分行",
                              account_number="4200300300000003", evidence="", actor=staff["finance"])
    c = pay.correction_submit(instruction_id=s2.pk, account_name="鄂西器械有限公司", bank_name="中国农业银行十堰分行",
                              account_number="4200300300000003", evidence="企业变更开户许可证 2024-03-12",
                              actor=staff["finance"])
    with pytest.raises(PermissionDenied):  # never the same person
        pay.correction_approve(correction_id=c.pk, actor=staff["finance"])
    pay.correction_approve(correction_id=c.pk, actor=staff["supervisor"], note="核对开户许可证")
    world.s2.refresh_from_db()
    b.refresh_from_db()
    assert (world.s2.bank_account, b.status) == ("4200300300000003", DeliveryStatus.ACCEPTED)

    run2 = services.payment_run_start(as_of=date(2024, 3, 20), actor=RUN_JOB)
    assert (run2.count, run2.total_amount) == (1, Decimal("1180.00"))
    batch2 = send(_batch(run2), finance=staff["finance"], supervisor=staff["supervisor"])
    again = batch2.instructions.get()
    assert again.number != s2.number and again.account_number == "4200300300000003"
    answer(batch2, on=date(2024, 3, 21), finance=staff["finance"])
    b.refresh_from_db()
    live = PaymentLine.objects.get(delivery=b, state=LineState.CONFIRMED)
    assert (b.status, b.paid_on, live.days_to_pay, live.on_time) == (DeliveryStatus.PAID, date(2024, 3, 21), 19, True)
    assert PaymentLine.objects.filter(delivery=b).count() == 2  # the returned attempt stays on record
    assert {d.hospital.code: d.amount for d in HospitalDeduction.objects.all()} == {
        "H001": Decimal("1234.00"), "H002": Decimal("1180.00")}
    # The procurement report counts money received, by the bank's date: 1 234.00 (9 days) and
    # 1 180.00 (19 days): average 14.0 days, both on time.
    report = proc_selectors.settlement_report(user=staff["finance"], period="month")
    assert report["total"]["count"] == 2 and report["total"]["amount"] == Decimal("2414.00")
    assert report["total"]["average_days"] == Decimal("14.0") and report["total"]["on_time_count"] == 2


def test_the_same_return_file_imported_twice_changes_nothing(world, staff):
    a, b, run = _two_supplier_run(world)
    batch = send(_batch(run), finance=staff["finance"], supervisor=staff["supervisor"])
    i1, i2 = batch.instructions.order_by("number")
    content = _csv([[i1.number, i1.account_number, i1.amount, "成功", "BK0001", "2024-03-11", ""],
                    [i2.number, i2.account_number, i2.amount, "失败", "", "2024-03-11", "户名不符"]])
    first = BankResultImporter(actor=staff["finance"]).run(read_table(content, "r.csv"))
    assert first.ok and (first.created, first.unchanged) == (2, 0)
    counts = (BankResult.objects.count(), Instruction.history.count(), Delivery.history.count(),
              HospitalDeduction.history.count())
    second = BankResultImporter(actor=staff["finance"]).run(read_table(content, "r.csv"))
    assert second.ok and (second.created, second.unchanged) == (0, 2)
    assert (BankResult.objects.count(), Instruction.history.count(), Delivery.history.count(),
            HospitalDeduction.history.count()) == counts
    # A different answer for an instruction already settled is refused, and nothing is written.
    flipped = _csv([[i2.number, i2.account_number, i2.amount, "成功", "BK0002", "2024-03-12", ""]])
    third = BankResultImporter(actor=staff["finance"]).run(read_table(flipped, "r.csv"))
    assert not third.ok and [(e.row, e.field) for e in third.errors] == [(2, "result")]
    assert Instruction.objects.get(pk=i2.pk).status == InstructionStatus.FAILED


def test_a_mismatched_amount_or_account_and_an_unknown_instruction_are_refused_and_listed(world, staff):
    """The file's row 2 says 1 243.00 for a 1 234.00 instruction, row 3 another account, row 4
    a number that does not exist: the whole file is refused, row by row, nothing written."""
    a, b, run = _two_supplier_run(world)
    batch = send(_batch(run), finance=staff["finance"], supervisor=staff["supervisor"])
    i1, i2 = batch.instructions.order_by("number")
    content = _csv([[i1.number, i1.account_number, "1243.00", "成功", "BK1", "2024-03-11", ""],
                    [i2.number, "6222000000000000", i2.amount, "成功", "BK2", "2024-03-11", ""],
                    ["GK20240310999999", "1", "1.00", "成功", "BK3", "2024-03-11", ""]])
    report = BankResultImporter(actor=staff["finance"]).run(read_table(content, "r.csv"))
    assert sorted((e.row, e.field) for e in report.errors) == [(2, "amount"), (3, "account_number"), (4, "number")]
    assert not BankResult.objects.exists()
    assert set(Instruction.objects.values_list("status", flat=True)) == {InstructionStatus.PENDING}
    assert Delivery.objects.get(pk=a.pk).status == DeliveryStatus.INSTRUCTED
    # The service refuses the same answers even when called directly (the bank's API callback).
    with pytest.raises(ValidationError) as exc:
        pay.results_record(rows=[pay.ResultRow(number=i1.number, outcome="paid", result_on=date(2024, 3, 11),
                                               amount=Decimal("1243.00"), account_number=i1.account_number,
                                               bank_reference="BK1")], actor=staff["finance"])
    assert "amount" in exc.value.message_dict


def test_a_batch_above_the_threshold_needs_a_supervisors_approval_never_the_preparers(world, staff):
    """1 000 stents × 590.00 = 590 000.00 > 500 000.00 (payments.signoff_threshold)."""
    from yibao_site.services import staff_save

    world.deliver_accepted(product=world.stent, quantity=1000, accepted_on=date(2024, 3, 2))
    batch = _batch(services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB))
    assert (batch.total_amount, batch.signoff_threshold, batch.signoff_required) == (
        Decimal("590000.00"), Decimal("500000.00"), True)
    with pytest.raises(PermissionDenied):
        pay.batch_prepare(batch_id=batch.pk, actor=staff["supervisor"])
    pay.batch_prepare(batch_id=batch.pk, actor=staff["finance"])
    with pytest.raises(ValidationError):
        pay.bank_file_produce(batch_id=batch.pk, actor=staff["finance"])
    with pytest.raises(PermissionDenied):
        pay.batch_approve(batch_id=batch.pk, actor=staff["finance"])
    pay.batch_approve(batch_id=batch.pk, actor=staff["supervisor"])
    assert pay.bank_file_produce(batch_id=batch.pk, actor=staff["finance"]).total_amount == Decimal("590000.00")

    # A superuser is no exception to maker-checker: who prepared cannot approve.
    world.deliver_accepted(product=world.stent, quantity=1000, accepted_on=date(2024, 3, 11))
    boss = staff_save(username="boss", role="supervisor")
    boss.is_superuser = True
    boss.save()
    other = _batch(services.payment_run_start(as_of=date(2024, 3, 12), actor=RUN_JOB))
    pay.batch_prepare(batch_id=other.pk, actor=boss)
    with pytest.raises(PermissionDenied):
        pay.batch_approve(batch_id=other.pk, actor=boss)
    steps = [h.history_change_reason for h in InstructionBatch.history.filter(id=batch.pk).order_by("history_id")]
    assert steps == ["生成支付指令批次", "财务制单", "主管审批通过"]


def test_instructions_unconfirmed_past_the_policy_days_are_escalated_once(world, staff):
    """Sent today; pending_escalation_days = 3: on day +3 nothing, on day +4 escalated, again on
    day +5 still escalated as of day +4."""
    from django.utils import timezone

    a, b, run = _two_supplier_run(world)
    send(_batch(run), finance=staff["finance"], supervisor=staff["supervisor"])
    today = timezone.localdate()
    assert pay.instructions_escalate(on=today + timedelta(days=3), actor=staff["finance"])["escalated"] == 0
    assert pay.instructions_escalate(on=today + timedelta(days=4), actor=staff["finance"]) == {
        "as_of": (today + timedelta(days=4)).isoformat(), "overdue": 2, "escalated": 2}
    assert pay.instructions_escalate(on=today + timedelta(days=5), actor=staff["finance"])["escalated"] == 0
    assert set(Instruction.objects.values_list("escalated_on", flat=True)) == {today + timedelta(days=4)}
    ages = {r["bucket"]: r for r in open_by_age(user=staff["finance"], today=today + timedelta(days=5))}
    assert ages["4-7"]["pending"] == 2 and ages["4-7"]["pending_amount"] == Decimal("2414.00")
    day = daily_reconciliation(user=staff["finance"])[0]
    assert (day["day"], day["pending"]["count"], day["escalated"], day["balanced"]) == ("2024-03-10", 2, 2, True)


def test_the_reminder_schedule_exists_after_migrate_and_the_task_runs(db):
    from django_celery_beat.models import PeriodicTask

    from payments.schedule import REMINDER_SCHEDULE_NAME, REMINDER_TASK
    from payments.tasks import remind_unconfirmed

    task = PeriodicTask.objects.get(name=REMINDER_SCHEDULE_NAME)
    assert task.task == REMINDER_TASK and task.enabled and task.crontab.hour == "9"
    assert remind_unconfirmed.apply(kwargs={"as_of": "2024-03-10"}).get() == {
        "as_of": "2024-03-10", "overdue": 0, "escalated": 0}


def test_finance_drives_the_bank_through_the_api(world, staff, api):
    fin, sup = api(staff["finance"]), api(staff["supervisor"])
    a, b, run = _two_supplier_run(world)
    batch = _batch(run)
    assert api(staff["agent"]).get("/api/v1/payment-batches/").status_code == 403
    assert sup.post(f"/api/v1/payment-batches/{batch.pk}/prepare/").status_code == 403
    r = fin.post(f"/api/v1/payment-batches/{batch.pk}/prepare/")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    r = fin.post(f"/api/v1/payment-batches/{batch.pk}/produce-file/", {}, format="json")
    assert r.status_code == 201, r.json()
    file_id = r.json()["id"]
    content = fin.get(f"/api/v1/bank-files/{file_id}/download/").content
    assert len(read_table(content, "f.csv")) == 2
    assert fin.post(f"/api/v1/bank-files/{file_id}/sent/").json()["sent_by"] == "finance"
    i1, i2 = batch.instructions.order_by("number")
    body = {"results": [
        {"number": i1.number, "account_number": i1.account_number, "amount": "1234.00", "result": "paid",
         "bank_reference": "BK1", "date": "2024-03-11"},
        {"number": i2.number, "account_number": i2.account_number, "amount": "1180.00", "result": "failed",
         "date": "2024-03-11", "reason": "户名不符"}]}
    r = fin.post("/api/v1/bank-results/", body, format="json")
    assert r.status_code == 201 and r.json() == {"created": 2, "unchanged": 0}
    assert fin.post("/api/v1/bank-results/", body, format="json").json() == {"created": 0, "unchanged": 2}
    bad = dict(body["results"][0], amount="1.00")
    r = fin.post("/api/v1/bank-results/", {"results": [bad]}, format="json")
    assert r.status_code == 400 and "amount" in r.json()
    rec = fin.get(f"/api/v1/payment-batches/{batch.pk}/reconciliation/").json()
    assert rec["confirmed"] == {"count": 1, "amount": "1234.00"} and rec["balanced"] is True
    r = fin.post("/api/v1/payee-corrections/", {"instruction": i2.number, "account_name": "鄂西器械有限公司",
                                               "bank_name": "中国农业银行", "account_number": "4200300300000003",
                                               "evidence": "开户许可证"}, format="json")
    assert r.status_code == 201, r.json()
    assert fin.post(f"/api/v1/payee-corrections/{r.json()['id']}/approve/", {}, format="json").status_code == 403
    ok = sup.post(f"/api/v1/payee-corrections/{r.json()['id']}/approve/", {}, format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    assert Delivery.objects.get(pk=b.pk).status == DeliveryStatus.ACCEPTED
    days = fin.get("/api/v1/payment-reconciliation/").json()["days"]
    assert days[0]["instructed"]["amount"] == "2414.00"
    assert fin.get(f"/api/v1/payment-instructions/{i1.number}/").json()["status"] == "confirmed"
    assert fin.post("/api/v1/payment-reminders/", {"as_of": "2024-03-11"}, format="json").status_code == 200


def test_admin_screens_for_finance(world, staff, client):
    a, b, run = _two_supplier_run(world)
    batch = send(_batch(run), finance=staff["finance"], supervisor=staff["supervisor"])
    client.force_login(staff["finance"])
    from django.urls import reverse

    for name in ["payments_instructionbatch_changelist", "payments_instruction_changelist",
                 "payments_bankfile_changelist", "payments_bankresult_changelist",
                 "payments_payeecorrection_changelist", "payments_bankfilelayout_changelist"]:
        assert client.get(reverse(f"admin:{name}")).status_code == 200, name
    assert client.get(reverse("admin:payments_instructionbatch_change", args=[batch.pk])).status_code == 200
    r = client.get(reverse("admin:payments_reconciliation"))
    assert r.status_code == 200 and 'data-testid="age-chart"' in r.content.decode()
    assert client.get(reverse("admin:payments_bankresult_import")).status_code == 200
    f = batch.files.get()
    assert client.get(reverse("admin:payments_bankfile_download", args=[f.pk])).content == bytes(f.content)
    client.force_login(staff["agent"])
    assert client.get(reverse("admin:payments_instruction_changelist")).status_code in (302, 403)
