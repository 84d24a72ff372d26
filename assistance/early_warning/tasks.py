"""Celery tasks of the double early warning: ids and dates in, one service call each, as the
job's system actor (``services.SYSTEM``).

The dependency runs one way: these tasks call the services; the services queue the push by
its task name (``services.PUSH_TASK``) and never import this module.
"""
from __future__ import annotations

from datetime import date

from celery import shared_task

from yibao_site.models import Region

from . import services
from .rules import parse_month
from .services import SYSTEM


@shared_task(name="early_warning.run_scheduled")
def run_scheduled(today: str | None = None, regions: list[str] | None = None) -> list[dict]:
    """Beat's monthly job: last month's lists for the scheduled regions (idempotent)."""
    results = services.warning_run_scheduled(actor=SYSTEM, today=date.fromisoformat(today) if today else None,
                                             region_codes=regions or None)
    services.deliveries_sweep()
    return [r.__dict__ for r in results]


@shared_task(name="early_warning.run_month")
def run_month(region: str, month: str) -> int:
    """Run one region's list for a month (``YYYY-MM``) in the background; return the run id."""
    run, _created = services.warning_run(region=Region.objects.filter(code=region).first(),
                                         month=parse_month(month), actor=SYSTEM, trigger="task")
    return run.pk


@shared_task(bind=True, name=services.PUSH_TASK, max_retries=None, acks_late=True)
def push_delivery(self, delivery_id: int) -> str:
    """POST one delivery to its department; retried with exponential backoff until it is
    delivered or its attempts run out (then it waits, failed, for a supervisor's redelivery)."""
    outcome = services.delivery_send(delivery_id=delivery_id, actor=SYSTEM)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="early_warning.sweep_deliveries")
def sweep_deliveries() -> int:
    """Queue again deliveries whose retry is overdue or whose sender vanished."""
    return services.deliveries_sweep()


@shared_task(name="early_warning.resume_missed_runs", acks_late=True)
def resume_missed_runs() -> list[dict]:
    """Every few minutes (beat): make the scheduled month's lists a dead worker never made."""
    return [r.__dict__ for r in services.warning_runs_resume_missed(actor=SYSTEM)]
