"""A real Celery worker on a real broker (Redis) running the scheduled monthly task, with a
department endpoint that fails once and then recovers.  Run by .ci/run:
CELERY_WORKER_TESTS=1 CELERY_BROKER_URL=redis://127.0.0.1:6379/1 DATABASE_URL=postgres://… pytest"""
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from assistance.early_warning import rules, services
from assistance.early_warning.models import DeliveryStatus, WarningDelivery, WarningRun
from yibao_site.testing import build_jurisdiction

from .helpers import Receiver, identity, ledger, person, resident, supervisor


@pytest.fixture
def worker(monkeypatch, transactional_db, request):
    """The project's ``real_worker``, started with a one-second push backoff."""
    monkeypatch.setenv("WARNING_PUSH_BACKOFF_SECONDS", "1")
    return request.getfixturevalue("real_worker")


def wait_for(predicate, timeout=60, step=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def succeeded(app, task_name):
    with open(app.worker_log, encoding="utf-8", errors="replace") as log:
        return sum(1 for line in log if f"Task {task_name}[" in line and "succeeded" in line)


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_the_scheduled_task_runs_last_month_on_a_real_worker_and_pushes_through_a_failure(worker):
    """Beat's row names the task and its arguments; we send exactly that, as beat would.
    Last month's list: A monitored above half of last year's rural income, B resident above it.
    The civil-affairs endpoint answers 503 once, then 200: two attempts, one acceptance."""
    j = build_jurisdiction(pack="shiyan-2022")
    month = rules.previous_month(timezone.localdate().replace(day=1))
    column = f"m{month.month:02d}"
    a, b = person(j), person(j, township=1)
    identity(a, "monitored")
    resident(b, month.year)
    ledger(a, month.year, **{column: "40000.00"})
    ledger(b, month.year, **{column: "80000.00"})
    schedule = services.schedule_save(actor=supervisor(), day_of_month=5, region_codes=[j.city.code])
    task = schedule.periodic_task
    assert (task.task, task.crontab.day_of_month, task.enabled) == ("early_warning.run_scheduled", "5", True)
    with Receiver(script=[503]) as receiver:
        services.endpoint_save(actor=supervisor(), region=j.city, department="civil_affairs", url=receiver.url, secret="s" * 24)
        worker.send_task(task.task, args=json.loads(task.args or "[]"), kwargs=json.loads(task.kwargs or "{}"))
        assert wait_for(lambda: WarningDelivery.objects.filter(department="civil_affairs",
                                                              status=DeliveryStatus.DELIVERED).exists()), \
            open(worker.worker_log).read()[-3000:]
        run = WarningRun.objects.get()
        assert (run.month, run.region, run.trigger, run.count, run.new_count) == (month, j.city, "schedule", 2, 2)
        delivery = run.deliveries.get(department="civil_affairs")
        assert delivery.attempts == 2
        assert list(delivery.attempt_log.values_list("status_code", flat=True)) == [503, 200]
        assert delivery.attempt_log.get(number=2).started_at - delivery.attempt_log.get(number=1).started_at \
            >= timedelta(seconds=1)
        assert len(receiver.requests) == 2 and len(receiver.accepted) == 1
        payload = json.loads(receiver.accepted[str(delivery.key)])
        assert {w["person"] for w in payload["warnings"]} == {a.id_number, b.id_number}
        # Beat fires again (e.g. the day is changed to today): nothing is built or sent twice.
        before = succeeded(worker, "early_warning.run_scheduled")
        worker.send_task(task.task, args=[], kwargs={})
        assert wait_for(lambda: succeeded(worker, "early_warning.run_scheduled") > before)
        time.sleep(1)
        assert WarningRun.objects.count() == 1 and len(receiver.requests) == 2
    assert run.deliveries.get(department="rural_revitalization").status == DeliveryStatus.AWAITING_DOWNLOAD
