"""Scheduled jobs of the eligibility review."""
from __future__ import annotations

from datetime import date

from celery import shared_task


@shared_task(name="assistance.flag_overdue")
def flag_overdue(as_of: str | None = None) -> dict:
    """Flag open applications past their deadline (限时办结); idempotent for a day."""
    from .services import applications_flag_overdue

    return applications_flag_overdue(on=date.fromisoformat(as_of) if as_of else None)
