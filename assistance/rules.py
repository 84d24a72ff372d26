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


# ── retroactive one-time assistance (一次性追溯救助) ──────────────────────────────────────

@dataclass(frozen=True)
class PastCost:
    """One eligible past claim: its year, visit type and the self-pay left after tiers 1–3."""

    year: int
    visit_type: str
    base: Decimal


def retroactive_amount(policy, *, category: int, costs: Iterable[PastCost],
                       paid_before: dict[int, Decimal] | None = None) -> tuple[Decimal, list[dict]]:
    """Return the one-time assistance for past costs under ``category``'s rules, and its lines.

    Each claim goes through the claims app's own tier-3 rule (``claims.rules.assistance_amount``)
    on a running per-year ledger: the annual deductible is consumed once a year, the shared
    inpatient/chronic cap counts what settlement already paid that year (``paid_before``).
    """
    from claims.rules import assistance_amount

    ledgers: dict[int, dict[str, Decimal]] = {}
    lines: list[dict] = []
    total = ZERO
    for cost in costs:
        ledger = ledgers.setdefault(cost.year, {
            "base": ZERO, "paid": (paid_before or {}).get(cost.year, ZERO)})
        result, delta = assistance_amount(policy, category=category, visit_type=cost.visit_type, base=cost.base,
                                          deductible_base_before=ledger["base"], paid_before=ledger["paid"])
        ledger["base"] += delta.get("assistance_base", ZERO)
        ledger["paid"] += result.paid
        total += result.paid
        lines.append({"year": cost.year, "visit_type": cost.visit_type, "base": str(cost.base),
                      "paid": str(result.paid), "text": " ".join(result.lines)})
    return fen(total), lines


# ── tilt (倾斜救助) ──────────────────────────────────────────────────────────────────────────

def tilt_cumulative(self_pay: Decimal, *, threshold: Decimal, rate: Decimal, cap: Decimal | None) -> Decimal:
    """F(cumulative self-pay after tiers 1–3): what tilt pays on the whole year so far."""
    paid = fen(max(ZERO, self_pay - threshold) * rate)
    return min(paid, cap) if cap is not None else paid


def tilt_catch_up(self_pay: Decimal, already_paid: Decimal, *, threshold: Decimal, rate: Decimal,
                  cap: Decimal | None) -> Decimal:
    """Return the tilt owed for the year so far, less second-round amounts already paid.

    Self-pay 20 000, threshold 5 000, rate 0.50, cap 100 000, nothing paid yet: 7 500.00.
    Later claims get F(after) − F(before) from settlement, so nothing is paid twice.
    """
    return max(ZERO, tilt_cumulative(self_pay, threshold=threshold, rate=rate, cap=cap) - already_paid)
