"""The nightly ledger check's beat schedule (django-celery-beat), created idempotently by the
data migration ``0004_ledger_check_schedule``."""
from __future__ import annotations

LEDGER_CHECK_TASK = "claims.check_ledgers"
LEDGER_CHECK_SCHEDULE_NAME = "claims.nightly_ledger_check"
# 03:30 Beijing time: after the day's platform imports and the 02:00 payment run.
LEDGER_CHECK_CRONTAB = {"minute": "30", "hour": "3", "day_of_week": "*", "day_of_month": "*",
                        "month_of_year": "*", "timezone": "Asia/Shanghai"}


def ensure_ledger_check_schedule(crontab_model, task_model) -> tuple[object, bool]:
    """Create the PeriodicTask if missing (never duplicates, never overrides an edited time)."""
    schedule, _ = crontab_model.objects.get_or_create(**LEDGER_CHECK_CRONTAB)
    return task_model.objects.get_or_create(
        name=LEDGER_CHECK_SCHEDULE_NAME,
        defaults={"task": LEDGER_CHECK_TASK, "crontab": schedule, "enabled": True,
                  "description": "每晚核对个人年度台账与结算单合计(自负、各段支付、月度自负)"},
    )
