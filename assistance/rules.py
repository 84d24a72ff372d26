"""Pure rules of the eligibility review: no ORM, only parameters, dates and amounts.

Every number comes in as an argument read from the policy pack by the caller.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from yibao_site.dates import add_months
from yibao_site.money import ZERO, to_fen
# The calendar arithmetic is the kernel's (shared with every case workflow).
from yibao_site.workflow import add_working_days, is_working_day  # noqa: F401

__all__ = ["ZERO", "add_working_days", "is_working_day", "lookback_window", "highest_category", "MeansTest",
           "means_test"]


# ── dates (validity windows: ``yibao_site.dates.validity_window``) ─────────────────────────

def lookback_window(before: date, months: int) -> tuple[date, date]:
    """Return (first day, last day) of the ``months`` months before ``before`` (exclusive).

    The 12 months before 2024-03-15 are 2023-03-15 … 2024-03-14.
    """
    return add_months(before, -months), before - timedelta(days=1)


# ── categories ───────────────────────────────────────────────────────────────────────────

def highest_category(categories: Iterable[int | None]) -> int | None:
    """Return the highest category (the smallest number: category 1 is the highest), or None."""
    found = [c for c in categories if c]
    return min(found) if found else None


# ── means test (因病致贫重病患者) ────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class MeansTest:
    out_of_pocket: Decimal
    income: Decimal
    ratio: Decimal
    threshold: Decimal
    passed: bool


def means_test(*, out_of_pocket: Decimal, income_per_capita: Decimal, ratio: Decimal) -> MeansTest:
    """Out-of-pocket over the look-back must be strictly above ratio × last year's income.

    With income 30 000 and ratio 1.00 the threshold is 30 000.00: 30 000.01 passes, 30 000.00
    does not ("超过" is strictly greater).
    """
    threshold = to_fen(income_per_capita * ratio)
    oop = to_fen(out_of_pocket)
    return MeansTest(oop, income_per_capita, ratio, threshold, oop > threshold)

