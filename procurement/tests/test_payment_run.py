"""The daily supplier payment run (SQLite and PostgreSQL alike)."""
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from procurement import services
from procurement.services import runs as run_service
from procurement.testing import RUN_JOB, bank_confirms
from procurement.models import (
    Delivery, DeliveryAlert, DeliveryStatus, HospitalDeduction, PaymentLine, PaymentOrder, PaymentRun, RunStatus,
)


def _world_with_mixed_deliveries(world):
    """h1: 100 × 12.34 = 1 234.00 (s1) and 2 × 590 = 1 180.00 (s2); h2: 50 × 12.34 = 617.00 (s1);
    plus one held (invoice 1 234.00 for 80 accepted), one not yet accepted, one accepted after
    the run date."""
    paid = [
        world.deliver_accepted(quantity=100, accepted_on=date(2024, 3, 2)),
        world.deliver_accepted(product=world.stent, quantity=2, accepted_on=date(2024, 3, 3)),
        world.deliver_accepted(hospital=world.h2, quantity=50, accepted_on=date(2024, 3, 4)),
    ]
    held = world.deliver_accepted(quantity=100, amount="1234.00", accept_quantity=80, accepted_on=date(2024, 3, 2))
    waiting = world.deliver(quantity=5)
    later = world.deliver_accepted(quantity=1, delivered_on=date(2024, 3, 9), accepted_on=date(2024, 3, 11))
    return paid, held, waiting, later


def test_run_pays_accepted_reconciled_deliveries_grouped_per_supplier(world):
    """Supplier s1: 1 234.00 + 617.00 = 1 851.00 (2 lines); s2: 1 180.00 (1 line); total 3 031.00.
    Deductions, once the bank confirms: h1 1 234.00 + 1 180.00 = 2 414.00; h2 617.00.

    Issue 17 changed the meaning: the run *instructs* the bank (deliveries ``instructed``, no
    deduction yet); the deliveries become ``paid`` and the deductions appear on confirmation."""
    paid, held, waiting, later = _world_with_mixed_deliveries(world)
    run = services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    assert set(Delivery.objects.filter(pk__in=[d.pk for d in paid]).values_list("status", flat=True)) == {
        DeliveryStatus.INSTRUCTED}
    assert not HospitalDeduction.objects.exists()
    bank_confirms(run)
    assert run.status == RunStatus.COMPLETED
    assert (run.count, run.total_amount) == (3, Decimal("3031.00"))
    orders = {o.supplier.code: (o.count, o.amount, o.number) for o in PaymentOrder.objects.filter(run=run)}
    assert orders == {"S001": (2, Decimal("1851.00"), "ZF20240310-S001"), "S002": (1, Decimal("1180.00"), "ZF20240310-S002")}
    deductions = {d.hospital.code: (d.count, d.amount) for d in HospitalDeduction.objects.filter(run=run)}
    assert deductions == {"H001": (2, Decimal("2414.00")), "H002": (1, Decimal("617.00"))}
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert all(statuses[d.pk] == DeliveryStatus.PAID for d in paid)
    assert statuses[held.pk] == DeliveryStatus.HELD
    assert statuses[waiting.pk] == DeliveryStatus.DELIVERED
    assert statuses[later.pk] == DeliveryStatus.ACCEPTED
    assert run.held_count == 1


def test_payment_line_records_days_to_pay_and_timeliness(world):
    """Accepted 2 Mar, due 1 Apr: paid 10 Mar → 8 days, on time; accepted 3 Mar (due 2 Apr)
    paid by the 5 Apr run → 33 days, late (days measured to the bank's confirmation date)."""
    on_time = world.deliver_accepted(accepted_on=date(2024, 3, 2))
    bank_confirms(services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB))  # the bank pays the same day
    late = world.deliver_accepted(accepted_on=date(2024, 3, 3))
    bank_confirms(services.payment_run_start(as_of=date(2024, 4, 5), actor=RUN_JOB))
    a, b = PaymentLine.objects.get(delivery=on_time), PaymentLine.objects.get(delivery=late)
    assert (a.days_to_pay, a.on_time, a.paid_on) == (8, True, date(2024, 3, 10))
    assert (b.days_to_pay, b.on_time, b.due_on) == (33, False, date(2024, 4, 2))


def test_running_the_same_date_again_changes_nothing(world):
    _world_with_mixed_deliveries(world)
    first = services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    snapshot = (PaymentLine.objects.count(), Delivery.history.count(), PaymentRun.history.count(),
                PaymentOrder.history.count())
    world.deliver_accepted(quantity=3, accepted_on=date(2024, 3, 9))  # arrives after the run
    again = services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    assert again.pk == first.pk and (again.count, again.total_amount) == (first.count, first.total_amount)
    assert (PaymentLine.objects.count(), Delivery.history.count() - 2, PaymentRun.history.count(),
            PaymentOrder.history.count()) == snapshot  # -2: the new delivery's own create + accept
    nxt = services.payment_run_start(as_of=date(2024, 3, 11), actor=RUN_JOB)
    assert nxt.count == 2  # the late arrival and the one accepted on 11 Mar


def test_a_held_delivery_is_paid_by_the_next_run_once_reconciled(world, staff):
    d = world.deliver_accepted(quantity=100, amount="1234.00", accept_quantity=80)
    assert services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB).count == 0
    services.delivery_reconcile(delivery_id=d.pk, amount="987.20", actor=staff["finance"])
    run = services.payment_run_start(as_of=date(2024, 3, 11), actor=RUN_JOB)
    assert (run.count, run.total_amount) == (1, Decimal("987.20"))


def test_due_soon_then_overdue_flags_and_a_single_escalation(world):
    """Held delivery accepted 2 Mar, due 1 Apr, 7 days' notice: on 24 Mar nothing; on 25 Mar
    due soon; on 2 Apr overdue and escalated; on 3 Apr still escalated as of 2 Apr."""
    held = world.deliver_accepted(quantity=100, amount="1234.00", accept_quantity=80)
    services.payment_run_start(as_of=date(2024, 3, 24), actor=RUN_JOB)
    assert Delivery.objects.get(pk=held.pk).alert == DeliveryAlert.NONE
    run = services.payment_run_start(as_of=date(2024, 3, 25), actor=RUN_JOB)
    assert Delivery.objects.get(pk=held.pk).alert == DeliveryAlert.DUE_SOON and run.due_soon_count == 1
    run = services.payment_run_start(as_of=date(2024, 4, 2), actor=RUN_JOB)
    d = Delivery.objects.get(pk=held.pk)
    assert (d.alert, d.escalated_on, run.overdue_count) == (DeliveryAlert.OVERDUE, date(2024, 4, 2), 1)
    services.payment_run_start(as_of=date(2024, 4, 3), actor=RUN_JOB)
    assert Delivery.objects.get(pk=held.pk).escalated_on == date(2024, 4, 2)


def test_an_earlier_date_run_after_a_later_one_leaves_the_flags_alone(world):
    held = world.deliver_accepted(quantity=100, amount="1234.00", accept_quantity=80)
    services.payment_run_start(as_of=date(2024, 4, 2), actor=RUN_JOB)
    services.payment_run_start(as_of=date(2024, 3, 20), actor=RUN_JOB)
    assert Delivery.objects.get(pk=held.pk).alert == DeliveryAlert.OVERDUE


def test_a_run_that_dies_after_partial_work_is_resumed_without_paying_twice(world, monkeypatch):
    """Six payable deliveries, chunks of two: the run crashes after the first chunk committed;
    the restart pays the other four, and every delivery has exactly one line."""
    deliveries = [world.deliver_accepted(quantity=i + 1, accepted_on=date(2024, 3, 2)) for i in range(6)]
    monkeypatch.setenv("PROCUREMENT_PAYMENT_CHUNK_SIZE", "2")
    calls = []

    def crash(run, paid):
        calls.append(paid)
        if len(calls) == 1:
            raise RuntimeError("worker lost")

    monkeypatch.setattr(run_service, "_after_chunk", crash)
    with pytest.raises(RuntimeError):
        services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    run = PaymentRun.objects.get(as_of=date(2024, 3, 10))
    assert run.status == RunStatus.FAILED and "worker lost" in run.last_error
    assert PaymentLine.objects.count() == 2

    run = services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    assert run.status == RunStatus.COMPLETED and run.attempts == 2
    assert PaymentLine.objects.count() == 6
    assert set(PaymentLine.objects.values_list("delivery_id", flat=True)) == {d.pk for d in deliveries}
    # 12.34 × (1+2+…+6) = 12.34 × 21 = 259.14
    assert run.total_amount == Decimal("259.14") and run.count == 6
    assert PaymentOrder.objects.get(run=run).amount == Decimal("259.14")


def test_the_database_refuses_a_second_payment_line_for_a_delivery(world):
    from django.db import IntegrityError, transaction

    d = world.deliver_accepted()
    run = services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    line = PaymentLine.objects.get(delivery=d)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentLine.objects.create(order=line.order, delivery=d, hospital=d.hospital, amount=1, accepted_on=d.accepted_on,
                                   due_on=d.due_on)


def test_run_date_in_the_future_is_refused(world):
    with pytest.raises(ValidationError):
        services.payment_run_start(as_of=date(2999, 1, 1), actor=RUN_JOB)
    assert not PaymentRun.objects.exists()


def test_only_finance_starts_and_reviews_runs(world, staff):
    for who in ("clerk", "reviewer", "supervisor"):
        with pytest.raises(PermissionDenied):
            services.payment_run_start(as_of=date(2024, 3, 10), actor=staff[who])
    run = services.payment_run_start(as_of=date(2024, 3, 10), actor=staff["finance"])
    with pytest.raises(PermissionDenied):
        services.payment_run_review(run_id=run.pk, actor=staff["supervisor"])
    run = services.payment_run_review(run_id=run.pk, actor=staff["finance"], note="核对无误")
    assert run.reviewed_by == staff["finance"]
    with pytest.raises(ValidationError):
        services.payment_run_review(run_id=run.pk, actor=staff["finance"])


def test_management_command_runs_a_date(world, capsys):
    world.deliver_accepted()
    call_command("payment_run", "--as-of", "2024-03-10")
    assert "1 deliveries, 1234.00" in capsys.readouterr().out
    assert PaymentRun.objects.get(as_of=date(2024, 3, 10)).trigger == "command"


def test_the_daily_schedule_exists_after_migrate(db):
    from django_celery_beat.models import PeriodicTask

    from procurement.schedule import PAYMENT_RUN_SCHEDULE_NAME, PAYMENT_RUN_TASK

    task = PeriodicTask.objects.get(name=PAYMENT_RUN_SCHEDULE_NAME)
    assert task.task == PAYMENT_RUN_TASK and task.enabled and task.crontab.hour == "2"
    call_command("setup_procurement_schedule")
    assert PeriodicTask.objects.filter(task=PAYMENT_RUN_TASK).count() == 1


def test_scheduled_task_runs_today_when_called_eagerly(world):
    from procurement.tasks import payment_run

    world.deliver_accepted()
    result = payment_run.apply(kwargs={"as_of": "2024-03-10"}).get()
    assert result["count"] == 1 and result["total_amount"] == "1234.00"
