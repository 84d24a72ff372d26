"""Pure rules of the eligibility review: no ORM, only parameters, dates and amounts.

Every number comes in as an argument read from the policy pack by the caller.
"""
from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def fen(amount: Decimal) -> Decimal:
    """Round to the fen, half up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# ── dates ────────────────────────────────────────────────────────────────────────────────

def add_months(day: date, months: int) -> date:
    """Return ``day`` moved by ``months`` calendar months (clamped to the month's last day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def validity_window(start: date, months: int) -> tuple[date, date]:
    """Return (first day, last day) of a status valid ``months`` months from ``start``.

    12 months from 2024-03-15 run to 2025-03-14 inclusive.
    """
    return start, add_months(start, months) - timedelta(days=1)


def lookback_window(before: date, months: int) -> tuple[date, date]:
    """Return (first day, last day) of the ``months`` months before ``before`` (exclusive).

    The 12 months before 2024-03-15 are 2023-03-15 … 2024-03-14.
    """
    return add_months(before, -months), before - timedelta(days=1)


# The calendar arithmetic is the kernel's (shared with every case workflow).
from yibao_site.workflow import add_working_days, is_working_day  # noqa: E402,F401


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
    threshold = fen(income_per_capita * ratio)
    oop = fen(out_of_pocket)
    return MeansTest(oop, income_per_capita, ratio, threshold, oop > threshold)

