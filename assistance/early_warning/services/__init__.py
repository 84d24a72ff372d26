"""Writes of the double early warning (DOMAIN.md §7), by sub-domain:

* :mod:`.run` — the monthly run (the set-based SQL engine), the scheduled and resumed runs;
* :mod:`.outbox` — the push outbox: deliveries, the HTTP transport, redelivery, downloads and
  acknowledgements;
* :mod:`.partners` — partner-department accounts and push endpoints;
* :mod:`.determinations` — a department's determination closing the loop;
* :mod:`.schedule` — the supervisor's schedule and its beat rows.

Every write takes ``actor`` and checks it first (``yibao_site.actors.require_actor``); the
monthly job, the resumption and the pushes run as :data:`SYSTEM`.  Nothing here imports
``tasks``: the pushes are queued by task name (:func:`.outbox.enqueue`).
"""
from ..beat import MONTHLY_TASK_NAME, SWEEP_TASK_NAME
from .common import SUPERVISOR, SYSTEM, partner_of
from .determinations import warning_determine
from .outbox import (
    ACKNOWLEDGEABLE, BACKOFF_BASE, BACKOFF_CAP, MAX_ATTEMPTS, PUSH_TASK, RETRYABLE_4XX, SWEEP_GRACE, SendOutcome,
    deliveries_sweep, delivery_acknowledge, delivery_mark_downloaded, delivery_payload, delivery_redeliver,
    delivery_send, enqueue, enqueue_on_commit,
)
from .partners import endpoint_for, endpoint_save, partner_account_save
from .run import (
    INCOME, INTO_RATIO, RETURN_KINDS, RETURN_RATIO, ScheduledResult, Unit, validate_run_month, validate_run_region,
    warning_run, warning_run_scheduled, warning_runs_resume_missed,
)
from .schedule import schedule_save

__all__ = [
    "MONTHLY_TASK_NAME", "SWEEP_TASK_NAME", "SUPERVISOR", "SYSTEM", "partner_of", "warning_determine",
    "ACKNOWLEDGEABLE", "BACKOFF_BASE", "BACKOFF_CAP", "MAX_ATTEMPTS", "PUSH_TASK", "RETRYABLE_4XX", "SWEEP_GRACE",
    "SendOutcome", "deliveries_sweep", "delivery_acknowledge", "delivery_mark_downloaded", "delivery_payload",
    "delivery_redeliver", "delivery_send", "enqueue", "enqueue_on_commit",
    "endpoint_for", "endpoint_save", "partner_account_save",
    "INCOME", "INTO_RATIO", "RETURN_KINDS", "RETURN_RATIO", "ScheduledResult", "Unit", "validate_run_month",
    "validate_run_region", "warning_run", "warning_run_scheduled", "warning_runs_resume_missed",
    "schedule_save",
]
