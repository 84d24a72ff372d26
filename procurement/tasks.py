"""Scheduled procurement jobs: each passes its explicit system actor to the service."""
from __future__ import annotations

from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from yibao_site.actors import system_actor

from .models import RunTrigger
from .schedule import PAYMENT_RUN_TASK, RESUME_STALE_TASK
from .services import payment_run_start, payment_runs_resume_stale


@shared_task(name=PAYMENT_RUN_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def payment_run(as_of: str | None = None) -> dict:
    """Run the supplier payment run for ``as_of`` (ISO date; default today, Beijing time).

    Idempotent: a completed date is returned unchanged, an interrupted one is resumed; a
    redelivered message (the worker died, ``acks_late``) simply resumes the run.
    """
    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    run = payment_run_start(as_of=day, trigger=RunTrigger.SCHEDULE, actor=system_actor(PAYMENT_RUN_TASK))
    return {"id": run.pk, "as_of": run.as_of.isoformat(), "count": run.count, "total_amount": str(run.total_amount)}


@shared_task(name=RESUME_STALE_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def resume_stale_runs() -> list[dict]:
    """Every few minutes (beat): resume payment runs a dead worker left ``running``."""
    return [{"id": r.pk, "as_of": r.as_of.isoformat(), "status": r.status}
            for r in payment_runs_resume_stale(actor=system_actor(RESUME_STALE_TASK))]
