"""The daily reminder of unconfirmed instructions (django-celery-beat), created idempotently by
the data migration ``0002_unconfirmed_reminder_schedule``."""
from __future__ import annotations

from yibao_site.schedule import ensure_periodic_task

REMINDER_TASK = "payments.remind_unconfirmed"
REMINDER_SCHEDULE_NAME = "payments.daily_unconfirmed_reminder"
# 09:00 Beijing time: after the bank's overnight return files, at the start of finance's day.
REMINDER_CRONTAB = {"minute": "0", "hour": "9", "day_of_week": "*", "day_of_month": "*",
                    "month_of_year": "*", "timezone": "Asia/Shanghai"}


def ensure_reminder_schedule(crontab_model, task_model) -> tuple[object, bool]:
    return ensure_periodic_task(
        crontab_model, task_model, name=REMINDER_SCHEDULE_NAME, task=REMINDER_TASK, crontab=REMINDER_CRONTAB,
        description="每日提醒:已发送银行但超期未确认的支付指令升级处理")
