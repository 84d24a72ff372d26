from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from yibao_site.dates import add_months, validity_window
from yibao_site.money import decimal_text, jsonable, quantize, to_fen


def test_to_fen_is_half_up_away_from_zero():
    assert to_fen("1.005") == Decimal("1.01")
    assert to_fen("-1.005") == Decimal("-1.01")
    assert to_fen(Decimal("2.344999")) == Decimal("2.34")
    assert to_fen(7) == Decimal("7.00")
    with pytest.raises(TypeError):
        to_fen(1.005)


def test_quantize_ratio_and_days():
    assert quantize(Decimal(2) / Decimal(3), "0.0001") == Decimal("0.6667")
    assert quantize(Decimal("12.25"), "0.1") == Decimal("12.3")


def test_api_numbers_are_strings_with_at_least_two_places():
    assert decimal_text(Decimal("5000")) == "5000.00"
    assert decimal_text(Decimal("1234.5")) == "1234.50"
    assert decimal_text(Decimal("0.8500")) == "0.8500"
    assert jsonable({"a": [Decimal("1"), (date(2024, 3, 1),)], "b": None}) == {"a": ["1.00", ["2024-03-01"]], "b": None}


def test_add_months_clamps_and_goes_back():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert add_months(date(2023, 11, 15), 14) == date(2025, 1, 15)
    assert add_months(date(2024, 1, 15), -13) == date(2022, 12, 15)
    assert validity_window(date(2024, 3, 15), 12) == (date(2024, 3, 15), date(2025, 3, 14))


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31)), st.integers(-600, 600))
def test_add_months_lands_in_the_right_month(day, months):
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day == day.day or moved.day < day.day


def _decimal_text_by_exponent(value: Decimal) -> str:
    """decimal_text as first written (by the exponent): the plain-notation fast path must agree."""
    if not value.is_finite():
        return str(value)
    return f"{value:.2f}" if value.as_tuple().exponent >= -2 else str(value)


@pytest.mark.parametrize("text", ["0", "0.0", "0.00", "-0.00", "-0", "5000", "1234.5", "-1.5", "12.345", "5E+3",
                                  "1E-7", "1E+1", "0E-2", "0E+2", "-0E-5", "NaN", "Infinity", "0.8500",
                                  "123456789012345678.12"])
def test_decimal_text_agrees_with_the_exponent_rule(text):
    assert decimal_text(Decimal(text)) == _decimal_text_by_exponent(Decimal(text))


@given(st.integers(-10**12, 10**12), st.integers(-9, 6))
def test_decimal_text_agrees_with_the_exponent_rule_everywhere(digits, exponent):
    value = Decimal(digits).scaleb(exponent)
    assert decimal_text(value) == _decimal_text_by_exponent(value)
