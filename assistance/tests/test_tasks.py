"""The scheduled overdue job: its beat entry, and a real worker on a real broker running it."""
from __future__ import annotations

import time
from datetime import date

import pytest

from assistance import tasks
from assistance.models import Application
from assistance.schedule import OVERDUE_SCHEDULE_NAME, OVERDUE_TASK


def test_the_daily_schedule_is_installed_by_migration(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name=OVERDUE_SCHEDULE_NAME)
    assert task.task == OVERDUE_TASK and task.enabled and task.crontab.hour == "0"


@pytest.mark.celery_worker
@pytest.mark.postgres
def test_a_real_worker_flags_overdue_cases(real_worker, staff, make_person, file_case):
    app = file_case(staff["agent"], make_person(), on=date(2024, 3, 15))  # deadline 2024-04-05
    tasks.flag_overdue.delay("2024-04-10")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if Application.objects.filter(pk=app.pk, overdue=True).exists():
            break
        time.sleep(0.5)
    assert Application.objects.get(pk=app.pk).overdue, open(real_worker.worker_log).read()[-2000:]
