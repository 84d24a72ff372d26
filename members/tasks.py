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


@shared_task(name="members.enrollment_caps_refresh")
def enrollment_caps_refresh(year: int | None = None) -> dict:
    """Recompute the critical-illness caps of ``year`` (default: this year) now that the
    previous year's zero-claim status is known.  Idempotent."""
    year = int(year or timezone.localdate().year)
    return {"year": year, "changed": services.enrollment_caps_refresh(
        year=year, actor=system_actor("members.enrollment_caps_refresh"))}
