"""The daily overdue flagging of certifications (django-celery-beat), created idempotently by
the data migration ``0002_overdue_schedule``; a supervisor may change the time in the admin."""
from __future__ import annotations

from yibao_site.schedule import ensure_periodic_task

OVERDUE_TASK = "chronic.flag_overdue"
OVERDUE_SCHEDULE_NAME = "chronic.daily_overdue_flag"
OVERDUE_CRONTAB = {"minute": "35", "hour": "0", "day_of_week": "*", "day_of_month": "*",
                   "month_of_year": "*", "timezone": "Asia/Shanghai"}


def ensure_overdue_schedule(crontab_model, task_model) -> tuple[object, bool]:
    return ensure_periodic_task(
        crontab_model, task_model, name=OVERDUE_SCHEDULE_NAME, task=OVERDUE_TASK, crontab=OVERDUE_CRONTAB,
        description="每日标记超过办结时限的门诊慢特病认定(限时办结)")
