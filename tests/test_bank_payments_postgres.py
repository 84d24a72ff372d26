"""Bank payments on PostgreSQL (issue 17): concurrent payment runs and concurrent imports of
bank results — no instruction duplicated, every line ends in exactly one state."""
import threading
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from django.db import connections
from django.db.models import Count, Sum

from payments import services as pay
from payments.importers import BankResultImporter
from payments.models import BankResult, Instruction, InstructionBatch, InstructionStatus
from payments.testing import bank_staff, send
from procurement import services
from procurement.models import Delivery, DeliveryStatus, LineState, PaymentLine, PaymentOrder, Supplier
from procurement.testing import RUN_JOB, bulk_accepted_deliveries
from procurement.tests.conftest import build_world
from yibao_site.imports import read_table

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _threads(targets):
    barrier = threading.Barrier(len(targets))
    errors, results = [], []

    def go(fn):
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=go, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors
    return results


def _world(n):
    from yibao_site.testing import build_jurisdiction

    world = build_world(build_jurisdiction(pack="shiyan-2022"))
    extra = [services.supplier_save(code=f"S1{i:02d}", name=f"企业{i}", bank_name="测试银行", bank_account=f"6200{i:08d}",
                                   actor=world.finance)
             for i in range(6)]
    products = [world.drug, world.stent] + [
        services.product_save(code=f"P1{i:02d}", name=f"产品{i}", kind="drug", unit_price="7.77", supplier=s,
                              actor=world.finance)
        for i, s in enumerate(extra)]
    bulk_accepted_deliveries(n=n, hospitals=[world.h1, world.h2], products=products, accepted_on=date(2024, 3, 2),
                             payment_days=30)
    return world


def _csv_for(batches, failed_every=3):
    rows = ["指令编号,收款账号,金额,处理结果,银行流水号,处理日期,失败原因"]
    for batch in batches:
        for k, i in enumerate(batch.instructions.order_by("number")):
            if k % failed_every == 0:
                rows.append(f"{i.number},{i.account_number},{i.amount},失败,,{batch.on},户名不符")
            else:
                rows.append(f"{i.number},{i.account_number},{i.amount},成功,BK{i.number},{batch.on},")
    return ("\n".join(rows) + "\n").encode()


def test_concurrent_runs_then_concurrent_result_imports_leave_each_line_in_one_state(monkeypatch):
    """800 deliveries of 8 suppliers; three runs (10, 11, 12 Mar) started at once share the work
    (each supplier at most one instruction per run); then the same return file imported by four
    finance sessions at once: each instruction gets exactly one result, the others change
    nothing, and every delivery ends paid or returned, consistent with its one live line."""
    monkeypatch.setenv("PROCUREMENT_PAYMENT_CHUNK_SIZE", "30")
    _world(800)
    ids = set(Delivery.objects.values_list("pk", flat=True))
    runs = _threads([lambda d=d: services.payment_run_start(as_of=d, actor=RUN_JOB)
                     for d in (date(2024, 3, 10), date(2024, 3, 11), date(2024, 3, 12))])
    assert sum(r.count for r in runs) == 800
    per_run_supplier = Counter(Instruction.objects.values_list("batch_id", "payee_code"))
    assert set(per_run_supplier.values()) == {1}, "a supplier got two instructions in one run"
    assert Instruction.objects.count() == PaymentOrder.objects.filter(count__gt=0).count()
    assert Instruction.objects.values("number").distinct().count() == Instruction.objects.count()

    finance, supervisor = bank_staff()
    batches = [send(b, finance=finance, supervisor=supervisor) for b in InstructionBatch.objects.order_by("pk")]
    content = _csv_for(batches)
    reports = _threads([lambda: BankResultImporter(actor=finance).run(read_table(content, "r.csv"))
                        for _ in range(4)])
    assert all(r.ok for r in reports), [r.errors[:3] for r in reports]
    n = Instruction.objects.count()
    assert sorted(r.created for r in reports) == [0, 0, 0, n]
    assert BankResult.objects.values("instruction").annotate(k=Count("id")).filter(k__gt=1).count() == 0
    assert not Instruction.objects.filter(status=InstructionStatus.PENDING).exists()

    per_delivery = Counter(PaymentLine.objects.values_list("delivery_id", flat=True))
    assert set(per_delivery) == ids and set(per_delivery.values()) == {1}
    states = dict(Delivery.objects.values_list("pk", "status"))
    for line in PaymentLine.objects.select_related("order"):
        ins = Instruction.objects.get(source_ref=f"order:{line.order_id}")
        expected = {InstructionStatus.CONFIRMED: (LineState.CONFIRMED, DeliveryStatus.PAID),
                    InstructionStatus.FAILED: (LineState.FAILED, DeliveryStatus.RETURNED)}[ins.status]
        assert (line.state, states[line.delivery_id]) == expected
    confirmed = PaymentLine.objects.filter(state=LineState.CONFIRMED).aggregate(s=Sum("amount"))["s"]
    assert Instruction.objects.filter(status="confirmed").aggregate(s=Sum("amount"))["s"] == confirmed
    from procurement.models import HospitalDeduction

    assert HospitalDeduction.objects.aggregate(s=Sum("amount"))["s"] == confirmed


def test_a_paid_and_a_failed_answer_for_the_same_instructions_at_once_one_wins_whole(monkeypatch):
    """Two callbacks race with opposite answers for the same instructions: exactly one is
    recorded whole, the other is refused whole (never half paid, half failed)."""
    _world(40)
    services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    finance, supervisor = bank_staff()
    batch = send(InstructionBatch.objects.get(), finance=finance, supervisor=supervisor)
    ins = list(batch.instructions.order_by("number"))

    def rows(outcome):
        return [pay.ResultRow(number=i.number, outcome=outcome, result_on=date(2024, 3, 11), amount=i.amount,
                              account_number=i.account_number, bank_reference="BK" if outcome == "paid" else "",
                              reason="" if outcome == "paid" else "账户冻结") for i in ins]

    def attempt(outcome):
        try:
            return pay.results_record(rows=rows(outcome), channel="api", actor=finance)
        except Exception as exc:  # the loser is refused
            return exc

    results = _threads([lambda: attempt("paid"), lambda: attempt("failed")])
    wins = [r for r in results if isinstance(r, dict)]
    assert len(wins) == 1 and wins[0]["created"] == len(ins)
    assert len(set(Instruction.objects.values_list("status", flat=True))) == 1
    assert BankResult.objects.count() == len(ins)
    assert Supplier.objects.count() == 8 and Decimal("0") < sum(i.amount for i in ins)
