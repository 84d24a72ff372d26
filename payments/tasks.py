"""Scheduled bank-payment jobs."""
from __future__ import annotations

from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .schedule import REMINDER_TASK


@shared_task(name=REMINDER_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def remind_unconfirmed(as_of: str | None = None) -> dict:
    """Escalate instructions unconfirmed past the policy's days (ISO date; default today)."""
    from .services import instructions_escalate

    return instructions_escalate(on=date.fromisoformat(as_of) if as_of else None)
