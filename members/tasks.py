"""Scheduled jobs of members (django-celery-beat rows are created by migration 0004)."""
from __future__ import annotations

from datetime import date

from celery import shared_task
from django.utils import timezone

from yibao_site.actors import system_actor

from . import services


@shared_task(name="members.account_credit_month")
def account_credit_month(month: str | None = None) -> dict:
    """Credit every employee personal account for ``month`` (YYYY-MM; default: this month).
    Idempotent: a month already credited is skipped account by account."""
    day = date.fromisoformat(f"{month}-01") if month else timezone.localdate().replace(day=1)
    report = services.account_credit_month(month=day, actor=system_actor("members.account_credit_month"))
    return {"month": day.strftime("%Y-%m"), "credited": report.credited, "amount": str(report.amount),
            "already": report.already, "accounts_opened": report.accounts_opened}


# ``members.enrollment_caps_refresh`` (the caps of a year, monthly) is registered by claims/tasks.py:
# a cap it changes re-settles the person-years already settled, which only claims can do.
