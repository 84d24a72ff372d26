"""Bulk builders for large procurement data sets (tests on PostgreSQL, the bench, the demo)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from payments.testing import confirm
from yibao_site.actors import system_actor

from . import rules
from .models import Delivery, DeliveryStatus, Hospital, Product, Supplier
from .schedule import PAYMENT_RUN_TASK

#: The actor the scheduled payment run passes (tests and the bench start runs as the job does).
RUN_JOB = system_actor(PAYMENT_RUN_TASK)


def bulk_accepted_deliveries(*, n: int, hospitals: list[Hospital], products: list[Product],
                             default_supplier: Supplier | None = None, accepted_on: date,
                             payment_days: int, batch_size: int = 5000) -> int:
    """Insert ``n`` accepted, reconciled deliveries with ``bulk_create`` (no history rows: this
    is test and benchmark data, not a business write); return how many."""
    due_on = rules.due_date(accepted_on, payment_days)
    created = 0
    buf: list[Delivery] = []
    for i in range(n):
        product = products[i % len(products)]
        supplier_id = product.supplier_id or default_supplier.pk
        qty = 1 + i % 50
        value = rules.accepted_value(qty, product.unit_price)
        buf.append(Delivery(
            hospital=hospitals[i % len(hospitals)], supplier_id=supplier_id, product=product, quantity=qty,
            unit_price=product.unit_price, amount=value, delivered_on=accepted_on, status=DeliveryStatus.ACCEPTED,
            accepted_on=accepted_on, accepted_quantity=qty, accepted_amount=value, mismatch=Decimal("0.00"),
            due_on=due_on, policy_version="bulk",
        ))
        if len(buf) >= batch_size:
            Delivery.objects.bulk_create(buf, batch_size=batch_size)
            created += len(buf)
            buf = []
    if buf:
        Delivery.objects.bulk_create(buf, batch_size=batch_size)
        created += len(buf)
    return created


def bank_confirms(run, *, on: date | None = None):
    """Have the bank pay a completed run's instructions on ``on`` (default the run's date):
    sign-off, file, sent, result (test and benchmark helper)."""
    return confirm(f"run:{run.pk}", on=on)
