"""Pure rules: dates, working days, the means test, tilt, categories (worked examples and properties)."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, strategies as st

from assistance import rules
from yibao_site.dates import validity_window

D = Decimal


def test_validity_window_runs_twelve_months_less_a_day():
    assert validity_window(date(2024, 3, 15), 12) == (date(2024, 3, 15), date(2025, 3, 14))
    # 31 Jan + 1 month clamps to 29 Feb 2024 → the window ends 28 Feb
    assert validity_window(date(2024, 1, 31), 1) == (date(2024, 1, 31), date(2024, 2, 28))


def test_lookback_window_is_the_twelve_months_before_the_day():
    assert rules.lookback_window(date(2024, 3, 15), 12) == (date(2023, 3, 15), date(2024, 3, 14))


def test_working_days_skip_weekends_and_holidays_and_count_make_up_days():
    """Friday 2024-03-15 + 15 working days: 18–22, 25–29 Mar, 1–5 Apr → Friday 2024-04-05.
    With 4 Apr (清明) off, the 15th working day is Monday 8 Apr; with Sunday 7 Apr worked
    (调休) instead, it is Sunday 7 Apr."""
    start = date(2024, 3, 15)
    assert rules.add_working_days(start, 15) == date(2024, 4, 5)
    qingming = frozenset({date(2024, 4, 4)})
    assert rules.add_working_days(start, 15, qingming) == date(2024, 4, 8)
    assert rules.add_working_days(start, 15, qingming, frozenset({date(2024, 4, 7)})) == date(2024, 4, 7)
    assert rules.add_working_days(start, 0) == start


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)), st.integers(min_value=1, max_value=60),
       st.sets(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 6, 1)), max_size=20))
def test_deadline_is_a_working_day_with_exactly_n_working_days_after_the_start(start, n, holidays):
    holidays = frozenset(holidays)
    end = rules.add_working_days(start, n, holidays)
    assert rules.is_working_day(end, holidays)
    counted = sum(rules.is_working_day(start + timedelta(days=i), holidays) for i in range(1, (end - start).days + 1))
    assert counted == n


def test_highest_category_is_the_smallest_number():
    assert rules.highest_category([4, None, 2, 3]) == 2
    assert rules.highest_category([None]) is None


def test_means_test_both_sides_of_the_line():
    """Income 30 000 × ratio 1.00 = threshold 30 000.00; 30 000.01 is above it (passes), 30 000.00
    is not ("超过" is strictly greater); with ratio 0.80, 24 000.00 → 24 000.01 passes."""
    assert rules.means_test(out_of_pocket=D("30000.01"), income_per_capita=D("30000"), ratio=D("1.00")).passed
    assert not rules.means_test(out_of_pocket=D("30000.00"), income_per_capita=D("30000"), ratio=D("1.00")).passed
    result = rules.means_test(out_of_pocket=D("24000.01"), income_per_capita=D("30000"), ratio=D("0.80"))
    assert result.passed and result.threshold == D("24000.00")


@given(st.decimals(min_value=0, max_value=10**7, places=2), st.decimals(min_value=1, max_value=10**6, places=2))
def test_means_test_is_monotonic_in_the_out_of_pocket(oop, income):
    low = rules.means_test(out_of_pocket=oop, income_per_capita=income, ratio=D("1"))
    high = rules.means_test(out_of_pocket=oop + D("0.01"), income_per_capita=income, ratio=D("1"))
    assert high.passed >= low.passed
