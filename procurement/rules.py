"""Pure procurement rules (DOMAIN.md §8): amounts, reconciliation, due dates, alerts, volume
completion.  No ORM: every number arrives as an argument (read from policy parameters by the
caller), so the rules are property-testable."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from yibao_site.money import quantize, to_fen

RATIO = Decimal("0.0001")  # completion and elapsed shares: 4 places, half-up


def accepted_value(quantity: int, unit_price: Decimal) -> Decimal:
    """Return what the accepted quantity is worth at the selected price, to the fen."""
    return to_fen(Decimal(quantity) * Decimal(unit_price))


def reconcile(invoice_amount: Decimal, value: Decimal, tolerance: Decimal) -> tuple[bool, Decimal]:
    """Return (reconciled, difference) for an invoice against the accepted value.

    The difference is invoice − accepted value; it reconciles when its absolute value is within
    the tolerance (``procurement.reconcile_tolerance``).
    """
    difference = to_fen(Decimal(invoice_amount) - Decimal(value))
    return abs(difference) <= Decimal(tolerance), difference


def due_date(accepted_on: date, payment_days: int) -> date:
    """Return the last day the supplier must be paid: acceptance + ``procurement.payment_days``."""
    return accepted_on + timedelta(days=int(payment_days))


def alert_level(due_on: date, as_of: date, due_soon_days: int) -> str:
    """Return ``"overdue"`` past the due date, ``"due_soon"`` within ``due_soon_days`` of it, else ``""``."""
    if as_of > due_on:
        return "overdue"
    if (due_on - as_of).days <= int(due_soon_days):
        return "due_soon"
    return ""


def due_soon_threshold(as_of: date, due_soon_days: int) -> date:
    """Return the latest due date that counts as due soon on ``as_of``."""
    return as_of + timedelta(days=int(due_soon_days))


def days_to_pay(accepted_on: date, paid_on: date) -> int:
    return max((paid_on - accepted_on).days, 0)


def year_elapsed_share(year: int, as_of: date) -> Decimal:
    """Return the share of ``year`` elapsed on ``as_of`` (inclusive), in [0, 1], to 4 places."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    if as_of < start:
        return Decimal("0")
    if as_of >= end:
        return Decimal("1")
    total = (end - start).days + 1
    return quantize(Decimal((as_of - start).days + 1) / Decimal(total), RATIO)


def completion_ratio(done: int, agreed: int) -> Decimal:
    """Return done ÷ agreed to 4 places (may exceed 1 when a hospital buys more than agreed)."""
    if agreed <= 0:
        return Decimal("0")
    return quantize(Decimal(done) / Decimal(agreed), RATIO)


def is_laggard(completion: Decimal, elapsed_share: Decimal, laggard_ratio: Decimal) -> bool:
    """A hospital lags on a product when its completion is below ``laggard_ratio`` × the share of
    the year elapsed (``procurement.volume_laggard_ratio``): 50 % of the year gone with a ratio
    of 0.8 expects at least 40 % of the agreed volume."""
    return Decimal(completion) < (Decimal(elapsed_share) * Decimal(laggard_ratio))
