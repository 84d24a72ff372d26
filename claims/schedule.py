"""The nightly ledger check's beat schedule (django-celery-beat), created idempotently by the
data migration ``0004_ledger_check_schedule``."""
from __future__ import annotations

from yibao_site.schedule import ensure_periodic_task

LEDGER_CHECK_TASK = "claims.check_ledgers"
LEDGER_CHECK_SHARD_TASK = "claims.check_ledger_shard"
LEDGER_CHECK_SCHEDULE_NAME = "claims.nightly_ledger_check"
# 03:30 Beijing time: after the day's platform imports and the 02:00 payment run.
LEDGER_CHECK_CRONTAB = {"minute": "30", "hour": "3", "day_of_week": "*", "day_of_month": "*",
                        "month_of_year": "*", "timezone": "Asia/Shanghai"}


def ensure_ledger_check_schedule(crontab_model, task_model) -> tuple[object, bool]:
    """Create the PeriodicTask if missing (never duplicates, never overrides an edited time)."""
    return ensure_periodic_task(
        crontab_model, task_model, name=LEDGER_CHECK_SCHEDULE_NAME, task=LEDGER_CHECK_TASK, crontab=LEDGER_CHECK_CRONTAB,
        description="每晚核对个人年度台账与结算单合计(自负、各段支付、月度自负)")
