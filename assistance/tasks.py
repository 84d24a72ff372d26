"""Scheduled jobs of the eligibility review, as the job's system actor."""
from __future__ import annotations

from datetime import date

from celery import shared_task

from yibao_site.actors import system_actor

from .services import applications_flag_overdue

OVERDUE_ACTOR = system_actor("assistance.flag_overdue")


@shared_task(name="assistance.flag_overdue")
def flag_overdue(as_of: str | None = None) -> dict:
    """Flag open applications past their deadline (限时办结); idempotent for a day."""
    return applications_flag_overdue(actor=OVERDUE_ACTOR, on=date.fromisoformat(as_of) if as_of else None)
