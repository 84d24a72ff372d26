"""Every procurement write refuses a missing actor (issue 18: fail closed); only the scheduled
jobs' explicit system actors may start and resume the payment run, and they still work."""
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from payments.models import InstructionBatch
from procurement import services, tasks
from procurement.models import Delivery, DeliveryStatus, PaymentRun, RunStatus, Supplier
from procurement.schedule import PAYMENT_RUN_TASK
from yibao_site.actors import system_actor


def _writes(world, delivery, held):
    """Every write service of procurement, with the arguments it would otherwise accept."""
    return {
        "batch_save": lambda actor: services.batch_save(code="GJ-9", name="第九批", level="national", actor=actor),
        "supplier_save": lambda actor: services.supplier_save(code="S009", name="新企业", actor=actor),
        "supplier_bank_correct": lambda actor: services.supplier_bank_correct(
            code="S001", bank_name="其他银行", bank_account="1", actor=actor),
        "product_save": lambda actor: services.product_save(code="P009", name="新产品", kind="drug", unit_price="1.00",
                                                            actor=actor),
        "hospital_save": lambda actor: services.hospital_save(code="H009", name="新医院", level=1,
                                                              township=world.h1.township, actor=actor),
        "agreed_volume_save": lambda actor: services.agreed_volume_save(hospital=world.h1, product=world.drug,
                                                                        year=2024, quantity=10, actor=actor),
        "order_create": lambda actor: services.order_create(hospital=world.h1, supplier=world.s1, product=world.drug,
                                                            quantity=1, ordered_on=date(2024, 3, 1), actor=actor),
        "delivery_create": lambda actor: services.delivery_create(
            hospital=world.h1, supplier=world.s1, product=world.drug, quantity=1, amount="12.34",
            delivered_on=date(2024, 3, 1), invoice_number="NEW-1", actor=actor),
        "delivery_accept": lambda actor: services.delivery_accept(delivery_id=delivery.pk, accepted_on=date(2024, 3, 2),
                                                                  quantity=100, actor=actor),
        "delivery_reconcile": lambda actor: services.delivery_reconcile(delivery_id=held.pk, amount="987.20",
                                                                        actor=actor),
        "payment_run_start": lambda actor: services.payment_run_start(as_of=date(2024, 3, 10), actor=actor),
        "payment_runs_resume_stale": lambda actor: services.payment_runs_resume_stale(actor=actor),
    }


@pytest.fixture
def pending(world):
    """A delivery waiting for acceptance and a held one (100 delivered, 80 accepted at 12.34)."""
    delivery = world.deliver(invoice_number="WAIT-1")
    held = world.deliver_accepted(quantity=100, amount="1234.00", accept_quantity=80, invoice_number="HELD-1")
    return delivery, held


def _state():
    return (Delivery.history.count(), Supplier.history.count(), PaymentRun.objects.count(),
            list(Delivery.objects.order_by("pk").values_list("status", flat=True)))


def test_every_write_service_refuses_a_missing_actor_and_writes_nothing(world, pending):
    before = _state()
    for name, call in _writes(world, *pending).items():
        with pytest.raises(PermissionDenied):
            call(None)
        assert _state() == before, name


def test_a_system_actor_is_refused_where_no_job_calls_the_service(world, pending):
    job = system_actor(PAYMENT_RUN_TASK)
    before = _state()
    for name, call in _writes(world, *pending).items():
        if name in ("payment_run_start", "payment_runs_resume_stale"):
            continue
        with pytest.raises(PermissionDenied):
            call(job)
        assert _state() == before, name


def test_a_clerk_cannot_keep_master_data_but_a_supervisor_may_approve_a_suppliers_new_account(world, staff):
    with pytest.raises(PermissionDenied):
        services.supplier_save(code="S001", name="华中医药有限公司", actor=staff["supervisor"])
    with pytest.raises(PermissionDenied):
        services.supplier_bank_correct(code="S001", bank_name="其他银行", bank_account="1", actor=staff["clerk"])
    s = services.supplier_bank_correct(code="S001", bank_name="中国农业银行十堰分行", bank_account="4200300300000003",
                                       actor=staff["supervisor"])
    assert (s.name, s.bank_name, s.bank_account) == ("华中医药有限公司", "中国农业银行十堰分行", "4200300300000003")
    assert s.history.first().history_user == staff["supervisor"]


def test_the_scheduled_run_passes_its_system_actor_and_pays(world):
    """One delivery, 100 × 12.34 = 1 234.00, accepted 2 Mar: the 10 Mar run of the beat task
    instructs it; no person started it, and the job's writes are recorded without a user."""
    d = world.deliver_accepted()
    result = tasks.payment_run.apply(kwargs={"as_of": "2024-03-10"}).get()
    run = PaymentRun.objects.get(pk=result["id"])
    assert (result["count"], result["total_amount"]) == (1, "1234.00")
    assert (run.status, run.trigger, run.started_by) == (RunStatus.COMPLETED, "schedule", None)
    assert Delivery.objects.get(pk=d.pk).status == DeliveryStatus.INSTRUCTED
    instructed = Delivery.history.filter(id=d.pk).order_by("-history_id").first()
    assert (instructed.history_type, instructed.history_user) == ("~", None)
    assert instructed.history_change_reason == "支付批次 2024-03-10 已发支付指令"
    batch = InstructionBatch.objects.get(source_ref=f"run:{run.pk}")
    assert batch.total_amount == Decimal("1234.00")


def test_the_watchdog_task_resumes_a_run_left_running(world, settings):
    settings.JOBS_STALE_AFTER_SECONDS = 0
    world.deliver_accepted()
    stale = PaymentRun.objects.create(as_of=date(2024, 3, 10), trigger="schedule", status=RunStatus.RUNNING)
    # SQLite: running for longer than 0 s; PostgreSQL: nobody holds the run's advisory lock.
    [resumed] = tasks.resume_stale_runs.apply().get()
    assert resumed == {"id": stale.pk, "as_of": "2024-03-10", "status": RunStatus.COMPLETED}
    assert PaymentRun.objects.get(pk=stale.pk).count == 1
