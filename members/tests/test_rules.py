"""Property tests of the pure rules (no database)."""
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, strategies as st

from members import rules

CAP = rules.CapParams(base=Decimal("400000"), continuity_min_years=4, continuity_bonus=Decimal("3000"),
                      zero_claim_bonus=Decimal("3000"), bonus_ceiling_rate=Decimal("0.20"),
                      break_penalty_per_year=Decimal("3000"))
COLLECTION = rules.CollectionPeriod.for_year(2025, "09-01", "12-31")


@given(st.integers(1, 60), st.integers(0, 60), st.integers(0, 30))
def test_cap_incentives_never_pass_the_ceiling_and_never_go_negative(years, zero, breaks):
    cap = rules.critical_illness_cap(CAP, continuous_years=years, zero_claim_count=zero, break_years=breaks)
    assert Decimal("0") <= cap <= Decimal("480000.00")
    if breaks == 0:
        assert cap >= Decimal("400000.00")


def test_cap_worked_examples():
    """6 continuous years, 1 zero-claim year: (6 − 4) × 3 000 + 3 000 = 9 000 ⇒ 409 000."""
    assert rules.critical_illness_cap(CAP, continuous_years=6, zero_claim_count=1, break_years=0) == Decimal("409000.00")
    assert rules.critical_illness_cap(CAP, continuous_years=1, zero_claim_count=0, break_years=3) == Decimal("391000.00")


@given(st.dates(date(2024, 9, 1), date(2025, 12, 31)), st.sets(st.integers(2015, 2024), max_size=8),
       st.integers(0, 6))
def test_benefits_never_start_before_jan_1_or_before_the_waiting_period_ends(paid_on, prior, months):
    try:
        t = rules.enrolment_terms(year=2025, scheme="resident", paid_on=paid_on, birth_date=date(1980, 1, 1),
                                  prior_years=prior, collection=COLLECTION, waiting_months=months, newborn_rule=True)
    except rules.EnrolmentRuleError as exc:
        assert exc.code == "waiting_beyond_year"
        return
    assert date(2025, 1, 1) <= t.benefit_start <= t.benefit_end == date(2025, 12, 31)
    if t.waiting_period:
        assert t.benefit_start >= rules.add_months(paid_on, months) or t.benefit_start == date(2025, 1, 1)
        assert months > 0
    if paid_on in COLLECTION and (not prior or 2024 in prior):
        assert (t.benefit_start, t.waiting_period) == (date(2025, 1, 1), False)


@given(st.sets(st.integers(2000, 2024)))
def test_continuity_counts_the_unbroken_run(prior):
    count, breaks, first = rules.continuity(2025, prior)
    assert first == (not prior)
    if 2024 in prior:
        assert breaks == 0 and all(y in prior for y in range(2025 - count + 1, 2025))
        assert (2025 - count) not in prior
    elif prior:
        assert count == 1 and breaks == 2024 - max(prior)


RATES = {"extreme_poverty": Decimal("1.00"), "subsistence": Decimal("0.90"), "monitored": Decimal("0.50")}
PHASE = {"stable_escaped": (Decimal("0.30"), Decimal("280"))}
ORDER = ["extreme_poverty", "orphan", "subsistence", "marginal", "monitored", "stable_escaped"]


@given(st.lists(st.sampled_from(ORDER), max_size=6), st.decimals(Decimal("100"), Decimal("1000"), places=2))
def test_highest_subsidy_is_one_and_the_largest(kinds, premium):
    best = rules.highest_subsidy(kinds, premium=premium, rates=RATES, phaseout=PHASE, order=ORDER)
    each = [rules.subsidy_amount(kind=k, premium=premium, rates=RATES, phaseout=PHASE) for k in kinds]
    each = [c for c in each if c is not None]
    if not each:
        assert best is None
    else:
        assert best.amount == max(c.amount for c in each) and best.amount <= premium.quantize(Decimal("0.01"))


def test_add_months_clamps_to_month_end():
    assert rules.add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert rules.add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert rules.add_months(date(2023, 11, 30), 3) == date(2024, 2, 29)
    assert rules.add_months(date(2025, 1, 31), 1) == date(2025, 2, 28) - timedelta(days=0)
