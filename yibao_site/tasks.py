"""Kernel jobs: the background import (``import_jobs``) and its stale-run watchdog."""
from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .import_jobs import FAIL_STALE_TASK, RUN_TASK


@shared_task(name=RUN_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def import_job_run(job_id: int) -> dict:
    """Run one background import to its end; a redelivered message changes nothing twice."""
    from .import_jobs import job_payload, job_run

    job = job_run(job_id)
    return job_payload(job) if job is not None else {"id": job_id, "state": "missing"}


@shared_task(name=FAIL_STALE_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def import_jobs_fail_stale() -> list[int]:
    """Every few minutes (beat): fail the imports a dead worker left ``running``."""
    from .import_jobs import jobs_fail_stale

    return [job.pk for job in jobs_fail_stale()]
