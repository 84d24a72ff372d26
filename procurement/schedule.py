"""The daily supplier payment run's beat schedule (django-celery-beat), created idempotently
by the data migration ``0002_payment_run_schedule`` and by ``setup_procurement_schedule``."""
from __future__ import annotations

from yibao_site.schedule import ensure_periodic_task

PAYMENT_RUN_TASK = "procurement.payment_run"
PAYMENT_RUN_SCHEDULE_NAME = "procurement.daily_payment_run"
# 02:00 Beijing time: after the hospitals' acceptances of the previous day are in.
PAYMENT_RUN_CRONTAB = {"minute": "0", "hour": "2", "day_of_week": "*", "day_of_month": "*",
                       "month_of_year": "*", "timezone": "Asia/Shanghai"}


def ensure_payment_run_schedule(crontab_model, task_model) -> tuple[object, bool]:
    """Create the PeriodicTask if missing (never duplicates, never overrides an edited time)."""
    return ensure_periodic_task(
        crontab_model, task_model, name=PAYMENT_RUN_SCHEDULE_NAME, task=PAYMENT_RUN_TASK, crontab=PAYMENT_RUN_CRONTAB,
        description="每日供应商直接结算:支付已验收对账的配送,标记临期与逾期")

# Every few minutes: resume a payment run left ``running`` by a dead worker (settings'
# CELERY_BEAT_SCHEDULE installs it; django-celery-beat syncs it into its table at start).
RESUME_STALE_TASK = "procurement.resume_stale_runs"
