"""Scheduled jobs of chronic-disease certification."""
from __future__ import annotations

from datetime import date

from celery import shared_task

from yibao_site.actors import system_actor

from .services import certifications_flag_overdue


@shared_task(name="chronic.flag_overdue")
def flag_overdue(as_of: str | None = None) -> dict:
    """Flag open certifications past their deadline (限时办结); idempotent for a day."""
    return certifications_flag_overdue(on=date.fromisoformat(as_of) if as_of else None,
                                       actor=system_actor("chronic.flag_overdue"))
