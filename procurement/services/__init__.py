"""Writes of procurement state (DOMAIN.md §8), by sub-domain:

* :mod:`.catalogue` — procurement batches, suppliers, products, hospitals, purchase orders;
* :mod:`.volumes` — agreed yearly volumes;
* :mod:`.deliveries` — deliveries, acceptance and reconciliation;
* :mod:`.runs` — the supplier payment run (how a supplier is never paid twice), its review
  and the runs a dead worker left behind.

Every write service calls ``yibao_site.actors.require_actor`` first (no actor: refused);
only the payment run accepts a scheduled job's system actor.  ``from procurement.services
import X`` keeps working for every name below.
"""
from ._common import CORRECTION_REVIEWERS, FINANCE_ROLES, UNPAID
from .catalogue import batch_save, hospital_save, order_create, product_save, supplier_bank_correct, supplier_save
from .deliveries import (
    acceptance_apply, acceptance_errors, delivery_accept, delivery_check, delivery_create, delivery_reconcile,
    invoice_taken,
)
from .runs import (
    PAYMENT_RUN_LOCK_KEY, payment_run_execute, payment_run_review, payment_run_start, payment_runs_resume_stale,
    payment_runs_stale,
)
from .volumes import agreed_volume_save

__all__ = [
    "CORRECTION_REVIEWERS", "FINANCE_ROLES", "UNPAID", "PAYMENT_RUN_LOCK_KEY",
    "batch_save", "supplier_save", "supplier_bank_correct", "product_save", "hospital_save", "order_create",
    "agreed_volume_save",
    "delivery_check", "invoice_taken", "delivery_create", "acceptance_errors", "acceptance_apply", "delivery_accept",
    "delivery_reconcile",
    "payment_run_start", "payment_run_execute", "payment_run_review", "payment_runs_stale", "payment_runs_resume_stale",
]
