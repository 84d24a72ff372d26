"""Scheduled procurement jobs."""
from __future__ import annotations

from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from .schedule import PAYMENT_RUN_TASK, RESUME_STALE_TASK


@shared_task(name=PAYMENT_RUN_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def payment_run(as_of: str | None = None) -> dict:
    """Run the supplier payment run for ``as_of`` (ISO date; default today, Beijing time).

    Idempotent: a completed date is returned unchanged, an interrupted one is resumed; a
    redelivered message (the worker died, ``acks_late``) simply resumes the run.
    """
    from .models import RunTrigger
    from .services import payment_run_start

    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    run = payment_run_start(as_of=day, trigger=RunTrigger.SCHEDULE)
    return {"id": run.pk, "as_of": run.as_of.isoformat(), "count": run.count, "total_amount": str(run.total_amount)}


@shared_task(name=RESUME_STALE_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def resume_stale_runs() -> list[dict]:
    """Every few minutes (beat): resume payment runs a dead worker left ``running``."""
    from .services import payment_runs_resume_stale

    return [{"id": r.pk, "as_of": r.as_of.isoformat(), "status": r.status} for r in payment_runs_resume_stale()]
