"""Pure rules: worked examples and properties."""
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from procurement import rules

money = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999999.99"), places=2)


def test_accepted_value_is_rounded_half_up_to_the_fen():
    """3 × 0.125 = 0.375 → 0.38 (half up); 80 × 12.34 = 987.20."""
    assert rules.accepted_value(3, Decimal("0.125")) == Decimal("0.38")
    assert rules.accepted_value(80, Decimal("12.34")) == Decimal("987.20")


def test_alert_levels_around_the_due_date():
    """Due 1 Apr, 7 days' notice: 24 Mar is 8 days out (none), 25 Mar is 7 days (due soon),
    1 Apr is the last day (due soon), 2 Apr is overdue."""
    due = date(2024, 4, 1)
    assert rules.alert_level(due, date(2024, 3, 24), 7) == ""
    assert rules.alert_level(due, date(2024, 3, 25), 7) == "due_soon"
    assert rules.alert_level(due, date(2024, 4, 1), 7) == "due_soon"
    assert rules.alert_level(due, date(2024, 4, 2), 7) == "overdue"


def test_laggard_worked_example():
    """2024 (366 days), 1 Jul is day 183: elapsed 183/366 = 0.5000; ratio 0.80 expects 0.4000.
    400 of 1 000 agreed (0.4000) is on track, 399 (0.3990) lags."""
    share = rules.year_elapsed_share(2024, date(2024, 7, 1))
    assert share == Decimal("0.5000")
    assert not rules.is_laggard(rules.completion_ratio(400, 1000), share, Decimal("0.80"))
    assert rules.is_laggard(rules.completion_ratio(399, 1000), share, Decimal("0.80"))


@given(invoice=money, value=money, tolerance=st.decimals(min_value=0, max_value=100, places=2))
def test_reconcile_accepts_exactly_the_differences_within_tolerance(invoice, value, tolerance):
    ok, diff = rules.reconcile(invoice, value, tolerance)
    assert diff == invoice - value
    assert ok == (abs(invoice - value) <= tolerance)


@given(accepted=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
       days=st.integers(min_value=0, max_value=120), offset=st.integers(min_value=-200, max_value=200),
       notice=st.integers(min_value=0, max_value=30))
def test_alert_is_overdue_exactly_after_the_due_date_and_due_soon_within_the_notice(accepted, days, offset, notice):
    due = rules.due_date(accepted, days)
    as_of = due + timedelta(days=offset)
    level = rules.alert_level(due, as_of, notice)
    assert (level == "overdue") == (offset > 0)
    assert (level == "due_soon") == (-notice <= offset <= 0)
    assert (as_of <= rules.due_soon_threshold(as_of, notice) and due <= rules.due_soon_threshold(as_of, notice)) \
        == (offset >= -notice)


@given(quantity=st.integers(min_value=0, max_value=10**6),
       price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
       partial=st.integers(min_value=0, max_value=10**6))
def test_accepting_less_never_costs_more(quantity, price, partial):
    part = min(partial, quantity)
    assert rules.accepted_value(part, price) <= rules.accepted_value(quantity, price)
    assert rules.accepted_value(quantity, price) == (quantity * price)  # exact at fen prices


@given(year=st.integers(min_value=2020, max_value=2030), day=st.integers(min_value=0, max_value=400))
def test_elapsed_share_is_monotonic_and_bounded(year, day):
    d = date(year, 1, 1) + timedelta(days=day)
    a, b = rules.year_elapsed_share(year, d), rules.year_elapsed_share(year, d + timedelta(days=1))
    assert Decimal(0) <= a <= b <= Decimal(1)
