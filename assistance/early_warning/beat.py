"""The double early warning's beat rows (django-celery-beat), created idempotently.

Used by the data migration ``0002_schedule`` (with its historical models) and by
``services.schedule_save``: a row that exists is never duplicated and never changed here —
a supervisor's edited time stays (the one place that changes the monthly time is the
supervisor's own edit of the 预警运行计划, ``services.schedule_save``).
"""
from __future__ import annotations

from django.conf import settings

from yibao_site.schedule import ensure_periodic_task

MONTHLY_TASK_NAME = "early_warning.monthly_run"
SWEEP_TASK_NAME = "early_warning.sweep_deliveries"
MONTHLY_TASK = "early_warning.run_scheduled"
SWEEP_TASK = "early_warning.sweep_deliveries"
MONTHLY_DESCRIPTION = "因病返贫/因病致贫双预警:每月运行上一个自然月的名单并推送(改日期请在“预警运行计划”中修改)"
SWEEP_DESCRIPTION = "重新排队逾期未重试或中断的预警推送"
# Every 15 minutes: a lost push is queued again within a quarter of an hour.
SWEEP_CRONTAB = {"minute": "*/15", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}


def monthly_crontab(schedule) -> dict:
    """The crontab of a :class:`~assistance.early_warning.models.WarningSchedule`."""
    return {"minute": str(schedule.minute), "hour": str(schedule.hour), "day_of_month": str(schedule.day_of_month),
            "month_of_year": "*", "day_of_week": "*", "timezone": settings.TIME_ZONE}


def ensure_warning_schedule(crontab_model, task_model, schedule) -> object:
    """Create the monthly run's and the sweeper's beat rows if missing; link ``schedule`` to
    the monthly row; return that row."""
    task, _created = ensure_periodic_task(crontab_model, task_model, name=MONTHLY_TASK_NAME, task=MONTHLY_TASK,
                                          crontab=monthly_crontab(schedule), description=MONTHLY_DESCRIPTION)
    ensure_periodic_task(crontab_model, task_model, name=SWEEP_TASK_NAME, task=SWEEP_TASK,
                         crontab={**SWEEP_CRONTAB, "timezone": settings.TIME_ZONE}, description=SWEEP_DESCRIPTION)
    if schedule.periodic_task_id != task.pk:
        schedule.periodic_task_id = task.pk
        type(schedule).objects.filter(pk=schedule.pk).update(periodic_task_id=task.pk)
    return task
