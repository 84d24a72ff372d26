"""Scheduled bank-payment jobs: each passes its explicit system actor to the service."""
from __future__ import annotations

from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError

from yibao_site.actors import system_actor

from .schedule import REMINDER_TASK
from .services import instructions_escalate


@shared_task(name=REMINDER_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def remind_unconfirmed(as_of: str | None = None) -> dict:
    """Escalate instructions unconfirmed past the policy's days (ISO date; default today)."""
    return instructions_escalate(on=date.fromisoformat(as_of) if as_of else None, actor=system_actor(REMINDER_TASK))
