"""Never paying twice, on PostgreSQL: concurrent runs, and a real worker killed mid-run."""
import json
import os
import signal
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models import Count, Sum
from django.utils import timezone

from procurement import services
from procurement.services import runs as run_service
from procurement.models import Delivery, DeliveryStatus, PaymentLine, PaymentOrder, PaymentRun, RunStatus
from procurement.testing import RUN_JOB, bulk_accepted_deliveries

from .conftest import build_world


def _assert_each_paid_exactly_once(expected_ids):
    """Each delivery has exactly one payment line and is instructed (issue 17: the run instructs
    the bank; paid comes with the bank's confirmation), and every supplier's order of a run is
    carried by exactly one bank instruction of the same amount."""
    from payments.models import Instruction

    per_delivery = dict(PaymentLine.objects.values("delivery_id").annotate(n=Count("id")).values_list("delivery_id", "n"))
    assert set(per_delivery) == set(expected_ids), "a delivery was left unpaid or an unknown one was paid"
    assert set(per_delivery.values()) == {1}
    assert not Delivery.objects.filter(pk__in=expected_ids).exclude(status=DeliveryStatus.INSTRUCTED).exists()
    lines_total = PaymentLine.objects.aggregate(s=Sum("amount"))["s"]
    assert lines_total == Delivery.objects.filter(pk__in=expected_ids).aggregate(s=Sum("amount"))["s"]
    runs_total = sum(r.total_amount for r in PaymentRun.objects.all())
    orders_total = PaymentOrder.objects.aggregate(s=Sum("amount"))["s"]
    assert runs_total == orders_total == lines_total
    live = PaymentOrder.objects.filter(count__gt=0)
    assert Instruction.objects.count() == live.count()
    assert Instruction.objects.aggregate(s=Sum("amount"))["s"] == lines_total


def _world_with(n, accepted_on):
    from yibao_site.testing import build_jurisdiction

    world = build_world(build_jurisdiction(pack="shiyan-2022"))
    bulk_accepted_deliveries(n=n, hospitals=[world.h1, world.h2], products=[world.drug, world.stent],
                             accepted_on=accepted_on, payment_days=30)
    return world, list(Delivery.objects.values_list("pk", flat=True))


def _run_in_threads(dates):
    barrier = threading.Barrier(len(dates))
    errors, runs = [], []

    def go(as_of):
        try:
            barrier.wait()
            runs.append(services.payment_run_start(as_of=as_of, actor=RUN_JOB))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=go, args=(d,)) for d in dates]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return runs


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_for_the_same_date_started_at_once_pay_each_delivery_once(monkeypatch):
    monkeypatch.setenv("PROCUREMENT_PAYMENT_CHUNK_SIZE", "25")
    _world, ids = _world_with(600, date(2024, 3, 2))
    runs = _run_in_threads([date(2024, 3, 10), date(2024, 3, 10)])
    assert {r.pk for r in runs} == {PaymentRun.objects.get().pk}
    assert {(r.count, r.status) for r in runs} == {(600, RunStatus.COMPLETED)}
    _assert_each_paid_exactly_once(ids)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_runs_for_two_dates_started_at_once_share_the_work_without_paying_twice(monkeypatch):
    monkeypatch.setenv("PROCUREMENT_PAYMENT_CHUNK_SIZE", "25")
    _world, ids = _world_with(600, date(2024, 3, 2))
    runs = _run_in_threads([date(2024, 3, 10), date(2024, 3, 11), date(2024, 3, 12)])
    assert sum(r.count for r in runs) == 600
    _assert_each_paid_exactly_once(ids)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_the_run_lock_row_locks_and_the_unique_line_still_prevent_double_payment(monkeypatch):
    """Defence in depth: with the advisory lock disabled, two runs race chunk by chunk
    (SKIP LOCKED hands each a disjoint set of rows) and still pay every delivery once."""
    from contextlib import nullcontext

    monkeypatch.setenv("PROCUREMENT_PAYMENT_CHUNK_SIZE", "10")
    monkeypatch.setattr(run_service, "_run_lock", nullcontext)
    _world, ids = _world_with(400, date(2024, 3, 2))
    runs = _run_in_threads([date(2024, 3, 10), date(2024, 3, 11)])
    assert sum(r.count for r in runs) == 400
    _assert_each_paid_exactly_once(ids)


# pg_locks is the whole cluster's: the other test worker's database may hold an advisory lock
# of its own (a warning run, a credit run) at the same moment.
THIS_DATABASE = ("locktype = 'advisory' AND database = "
                 "(SELECT oid FROM pg_database WHERE datname = current_database())")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_holds_the_advisory_lock_and_releases_it():
    seen = []

    def probe(run, paid):
        with connections["default"].cursor() as c:
            c.execute(f"SELECT count(*) FROM pg_locks WHERE {THIS_DATABASE} AND objid = %s",
                      [services.PAYMENT_RUN_LOCK_KEY & 0xFFFFFFFF])
            seen.append(c.fetchone()[0])

    _world, _ids = _world_with(3, date(2024, 3, 2))
    original = run_service._after_chunk
    run_service._after_chunk = probe
    try:
        services.payment_run_start(as_of=date(2024, 3, 10), actor=RUN_JOB)
    finally:
        run_service._after_chunk = original
    assert seen == [1]
    with connection.cursor() as c:
        c.execute(f"SELECT count(*) FROM pg_locks WHERE {THIS_DATABASE}")
        assert c.fetchone()[0] == 0


# ── a real Celery worker on a real broker ────────────────────────────────────────────────────

def _wait_for(predicate, timeout=60.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def _send_as_beat(app):
    """Send the task the PeriodicTask names, with its args, as celery beat would."""
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from procurement.schedule import PAYMENT_RUN_SCHEDULE_NAME

    # transactional tests flush the data migration's row: restore it with the idempotent command
    call_command("setup_procurement_schedule")
    task = PeriodicTask.objects.get(name=PAYMENT_RUN_SCHEDULE_NAME)
    return app.send_task(task.task, args=json.loads(task.args or "[]"), kwargs=json.loads(task.kwargs or "{}"))


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_a_real_worker_runs_the_scheduled_payment_run(real_worker):
    today = timezone.localdate()
    _world, ids = _world_with(50, today - timedelta(days=3))
    _send_as_beat(real_worker)
    run = _wait_for(lambda: PaymentRun.objects.filter(as_of=today, status=RunStatus.COMPLETED).first())
    assert run.trigger == "schedule" and run.count == 50
    _assert_each_paid_exactly_once(ids)


@pytest.fixture
def one_delivery_per_chunk(monkeypatch):
    # Set before the worker starts (its environment is copied at start): one transaction per
    # delivery makes the run long enough to be killed in the middle.
    monkeypatch.setenv("PROCUREMENT_PAYMENT_CHUNK_SIZE", "1")


@pytest.fixture
def slow_worker(one_delivery_per_chunk, real_worker):
    return real_worker


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_a_worker_killed_mid_run_then_a_rerun_pays_everything_exactly_once(slow_worker, monkeypatch):
    today = timezone.localdate()
    n = 1500
    _world, ids = _world_with(n, today - timedelta(days=2))
    _send_as_beat(slow_worker)
    _wait_for(lambda: PaymentLine.objects.count() >= 20)
    os.kill(slow_worker.worker_process.pid, signal.SIGKILL)
    slow_worker.worker_process.wait(timeout=10)
    partial = PaymentLine.objects.count()
    assert 20 <= partial < n, "the run should have been killed in the middle"
    run = PaymentRun.objects.get(as_of=today)
    assert run.status == RunStatus.RUNNING  # it died without finishing

    monkeypatch.setenv("PROCUREMENT_PAYMENT_CHUNK_SIZE", "500")
    rerun = services.payment_run_start(as_of=today, actor=RUN_JOB)  # waits for PostgreSQL to drop the dead session's lock
    assert rerun.pk == run.pk and rerun.status == RunStatus.COMPLETED and rerun.attempts == 2
    assert rerun.count == n
    _assert_each_paid_exactly_once(ids)
    assert PaymentLine.objects.aggregate(s=Sum("amount"))["s"] == rerun.total_amount > Decimal("0")
