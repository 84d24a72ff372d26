"""Pure rules of enrolment, personal accounts and subsidised premiums (DOMAIN.md §3–4).

No ORM here: every function takes the policy numbers as arguments, so the rules can be read
against the policy text and property-tested.  Money is ``Decimal`` rounded half-up to the fen.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from yibao_site.dates import add_months
from yibao_site.money import ZERO, to_fen


def month_day(year: int, md: str) -> date:
    """``month_day(2024, "09-01")`` → 2024-09-01 (the collection-period bounds are stored as MM-DD)."""
    month, day = (int(part) for part in md.split("-"))
    return date(year, month, day)


@dataclass(frozen=True)
class CollectionPeriod:
    """集中缴费期 for a coverage year: in the previous calendar year."""

    start: date
    end: date

    @classmethod
    def for_year(cls, year: int, start_md: str, end_md: str) -> "CollectionPeriod":
        return cls(month_day(year - 1, start_md), month_day(year - 1, end_md))

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class PriorYear:
    """What the rules need to know about one earlier enrolment year of the person."""

    year: int
    waiting_period: bool = False
    had_fund_payment: bool = False


@dataclass(frozen=True)
class EnrolmentTerms:
    benefit_start: date
    benefit_end: date
    waiting_period: bool
    continuous_years: int
    break_years: int
    newborn: bool


class EnrolmentRuleError(ValueError):
    """An enrolment the rules cannot accept; ``field`` names the input at fault."""

    def __init__(self, field: str, code: str):
        super().__init__(code)
        self.field, self.code = field, code


def continuity(year: int, prior_years: Iterable[int]) -> tuple[int, int, bool]:
    """Return (continuous years including ``year``, years of break before it, first-ever).

    *Continuously enrolled* means enrolled in the year immediately before (DOMAIN.md §3).
    After a break the count restarts at 1; ``break_years`` counts the missing years between
    the last earlier enrolment and ``year``.

    >>> continuity(2025, [2022, 2023, 2024])
    (4, 0, False)
    >>> continuity(2025, [2020, 2021, 2022])   # 2023 and 2024 missing
    (1, 2, False)
    """
    earlier = sorted({y for y in prior_years if y < year}, reverse=True)
    if not earlier:
        return 1, 0, True
    if earlier[0] != year - 1:
        return 1, year - 1 - earlier[0], False
    count = 1
    expected = year - 1
    for y in earlier:
        if y != expected:
            break
        count += 1
        expected -= 1
    return count, 0, False


def enrolment_terms(*, year: int, scheme: str, paid_on: date, birth_date: date, prior_years: Iterable[int],
                    collection: CollectionPeriod, waiting_months: int, newborn_rule: bool,
                    prepaid: bool = False) -> EnrolmentTerms:
    """Benefit period, waiting period and continuity of one enrolment (DOMAIN.md §3).

    Residents:
    - paid in the collection period and continuously enrolled (a first-ever enrolment paid in
      the collection period counts as continuous) ⇒ benefits 1 Jan – 31 Dec;
    - otherwise, with a waiting period of N > 0 months in force ⇒ benefits from
      max(paid_on + N months, 1 Jan);  with none in force ⇒ from max(paid_on, 1 Jan);
    - a newborn born inside the collection period (rule in force) ⇒ from the payment date
      (never before birth) to 31 Dec of the coverage year, no waiting period;
    - ``prepaid`` (later years of a student's lump sum, paid before the year began) ⇒
      1 Jan – 31 Dec.
    Employees (premium collected monthly by the employer) are not subject to the resident
    waiting period: benefits from the first day of the payment month, never before 1 Jan.
    """
    jan1, dec31 = date(year, 1, 1), date(year, 12, 31)
    continuous, break_years, first_ever = continuity(year, prior_years)
    if paid_on > dec31:
        raise EnrolmentRuleError("paid_on", "after_year")
    if paid_on < birth_date:
        raise EnrolmentRuleError("paid_on", "before_birth")
    if scheme == "employee":
        if paid_on < date(year - 1, 1, 1):
            raise EnrolmentRuleError("paid_on", "too_early")
        start = max(jan1, paid_on.replace(day=1))
        return EnrolmentTerms(start, dec31, False, continuous, break_years, False)
    if prepaid:
        return EnrolmentTerms(jan1, dec31, False, continuous, break_years, False)
    if paid_on < collection.start:
        raise EnrolmentRuleError("paid_on", "before_collection")
    if newborn_rule and first_ever and birth_date in collection:
        return EnrolmentTerms(max(paid_on, birth_date), dec31, False, 1, 0, True)
    in_collection = paid_on in collection
    if in_collection and (first_ever or break_years == 0):
        return EnrolmentTerms(jan1, dec31, False, continuous, break_years, False)
    if waiting_months > 0:
        start = max(jan1, add_months(paid_on, waiting_months))
        if start > dec31:
            raise EnrolmentRuleError("paid_on", "waiting_beyond_year")
        return EnrolmentTerms(start, dec31, True, continuous, break_years, False)
    return EnrolmentTerms(max(jan1, paid_on), dec31, False, continuous, break_years, False)


@dataclass(frozen=True)
class CapParams:
    base: Decimal
    continuity_min_years: int
    continuity_bonus: Decimal
    zero_claim_bonus: Decimal
    bonus_ceiling_rate: Decimal
    break_penalty_per_year: Decimal
    #: First coverage year whose cap can rise (000: 自2025年起); ``None``: no such date.
    incentives_from: int | None = None


def zero_claim_years(year: int, continuous_years: int, history: Mapping[int, PriorYear],
                     paid_normally: bool, incentives_from: int | None = None) -> int:
    """Count the years of the current continuous run before ``year`` with no fund payment,
    each followed by a normal payment (in the collection period, no waiting period) the
    next year.  ``paid_normally`` is that fact for ``year`` itself.

    With ``incentives_from`` (000: 自2025年起) a zero-claim year earns the bonus only when the
    following year — the year it raises — is ``incentives_from`` or later: for 2025 the first
    zero-claim year that counts is 2024."""
    count = 0
    for y in range(year - continuous_years + 1, year):
        if incentives_from is not None and y + 1 < incentives_from:
            continue
        record = history.get(y)
        if record is None or record.had_fund_payment:
            continue
        following_normal = paid_normally if y + 1 == year else not history.get(y + 1, PriorYear(y + 1, True)).waiting_period
        if following_normal:
            count += 1
    return count


def critical_illness_cap(p: CapParams, *, continuous_years: int, zero_claim_count: int, break_years: int,
                         year: int | None = None) -> Decimal:
    """Resident critical-illness cap with the incentives (DOMAIN.md §3, seed 000 问题一).

    cap = base + min(continuity bonus + zero-claim bonus, ceiling rate × base) − break penalty
    where the continuity bonus is ``bonus × max(0, continuous_years − min_years)`` (after 4
    continuous years, each further continuous year adds one bonus) and the break penalty is
    ``penalty × break_years``.  Never below zero.

    With ``p.incentives_from`` and ``year`` only the continuous years from ``incentives_from``
    on raise the cap: a person enrolled 2021–2025 gets one bonus in 2025 (the 5th year), and
    one enrolled 2015–2025 also one (2025 is the first year that can rise).
    """
    bonus_years = max(0, continuous_years - p.continuity_min_years)
    if p.incentives_from is not None and year is not None:
        bonus_years = min(bonus_years, max(0, year - p.incentives_from + 1))
    continuity = p.continuity_bonus * bonus_years
    zero = p.zero_claim_bonus * zero_claim_count
    bonus = min(continuity + zero, to_fen(p.base * p.bonus_ceiling_rate))
    penalty = p.break_penalty_per_year * break_years
    return to_fen(max(ZERO, p.base + bonus - penalty))


# ── personal accounts ───────────────────────────────────────────────────────────────────────

def monthly_credit(*, status: str, contribution_base: Decimal | None, rates: Mapping[str, Decimal],
                   retiree_pension_base: Decimal, retiree_rate: Decimal) -> Decimal:
    """Monthly personal-account credit (004 第十一条): in-service and flexible
    ``rate × base``; retirees a fixed ``pension base × rate``.  0 when there is nothing to credit."""
    if status == "retired":
        return to_fen(retiree_pension_base * retiree_rate)
    if contribution_base is None or status not in rates:
        return ZERO
    return to_fen(contribution_base * rates[status])


INVERSE_RELATION = {
    "spouse": "spouse", "sibling": "sibling",
    "parent": "child", "child": "parent",
    "grandparent": "grandchild", "grandchild": "grandparent",
}


def relation_of(relative_is: str | None, payer_is: str | None) -> str | None:
    """Return what the relative is to the payer, from either direction of the recorded pair."""
    if relative_is:
        return relative_is
    if payer_is:
        return INVERSE_RELATION[payer_is]
    return None


# ── subsidised premiums (资助参保) ─────────────────────────────────────────────────────────

@dataclass(frozen=True)
class SubsidyChoice:
    kind: str
    rate: Decimal | None
    premium: Decimal
    amount: Decimal


def subsidy_amount(*, kind: str, premium: Decimal, rates: Mapping[str, Decimal],
                   phaseout: Mapping[str, tuple[Decimal, Decimal]]) -> SubsidyChoice | None:
    """Subsidy for one identity: ``rate × premium`` or, for a phase-out identity,
    ``phase-out rate × phase-out base``; ``None`` when the identity earns no subsidy."""
    if kind in phaseout:
        rate, base = phaseout[kind]
        amount = to_fen(rate * base)
        return SubsidyChoice(kind, rate, to_fen(base), amount) if amount > 0 else None
    rate = rates.get(kind)
    if rate is None or rate <= 0:
        return None
    return SubsidyChoice(kind, rate, to_fen(premium), to_fen(min(rate, Decimal(1)) * premium))


def highest_subsidy(kinds: Sequence[str], *, premium: Decimal, rates: Mapping[str, Decimal],
                    phaseout: Mapping[str, tuple[Decimal, Decimal]], order: Sequence[str]) -> SubsidyChoice | None:
    """就高不就低, 不得重复资助: the single highest subsidy among a person's identities.

    Ties go to the identity listed first in ``order`` (the more severe category)."""
    best: SubsidyChoice | None = None
    for kind in sorted(set(kinds), key=order.index):
        choice = subsidy_amount(kind=kind, premium=premium, rates=rates, phaseout=phaseout)
        if choice is not None and (best is None or choice.amount > best.amount):
            best = choice
    return best


def identity_counts_for_year(valid_from: date, valid_to: date | None, year: int) -> bool:
    """An identity counts for a coverage year when valid on 1 Jan or any later day of it."""
    return valid_from <= date(year, 12, 31) and (valid_to is None or valid_to >= date(year, 1, 1))


def previous_day(day: date) -> date:
    return day - timedelta(days=1)


def periods_overlap(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    """Two inclusive periods (``None``: open-ended) share at least one day."""
    return a_from <= (b_to or date.max) and b_from <= (a_to or date.max)


def employee_contribution(rate: Decimal, contribution_base: Decimal | None) -> Decimal | None:
    """Yearly individual employee contribution = monthly base × rate × 12; 0 when the rate is
    0 (retirees); ``None`` when a base is needed and missing."""
    if rate == 0:
        return ZERO
    if contribution_base is None:
        return None
    return to_fen(contribution_base * rate * 12)
