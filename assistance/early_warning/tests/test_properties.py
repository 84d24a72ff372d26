"""Property tests: the set-based run agrees with the rule computed in Python, for any amounts."""
from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistance.early_warning import rules, services
from assistance.early_warning.models import PersonWarning

from .helpers import SYSTEM, identity, ledger, person, resident

cents = st.integers(min_value=0, max_value=1_200_000).map(lambda c: Decimal(c) / 100)
income = st.integers(min_value=1_000_00, max_value=90_000_00).map(lambda c: Decimal(c) / 100)
ratio = st.sampled_from([Decimal("0.50"), Decimal("1.00"), Decimal("0.333"), Decimal("1.5")])


@given(ratio=ratio, income=income)
def test_the_line_is_ratio_times_income_rounded_half_up_to_the_fen(ratio, income):
    line = rules.threshold(ratio, income)
    assert line == (ratio * income).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert not rules.is_above(line, line) and rules.is_above(line + Decimal("0.01"), line)


@given(months=st.lists(cents, min_size=12, max_size=12), through=st.integers(min_value=1, max_value=12))
def test_year_to_date_only_counts_months_up_to_the_run_month(months, through):
    assert rules.year_to_date(months, through) == sum(months[:through], Decimal("0"))
    assert rules.year_to_date(months, through) <= rules.year_to_date(months, 12)


@given(st.text(max_size=10))
def test_parse_month_accepts_only_yyyy_mm(text):
    try:
        parsed = rules.parse_month(text)
    except ValueError:
        return
    assert f"{parsed:%Y-%m}" == text.strip()


@pytest.fixture
def people(shiyan):
    """Two monitored persons (line 8 000.00) and two ordinary residents (line 16 000.00)."""
    found = []
    for i in range(4):
        p = person(shiyan, township=i % 2)
        if i < 2:
            identity(p, "monitored")
        else:
            resident(p, 2024)
        found.append(p)
    return found


amounts = st.lists(st.lists(st.sampled_from([Decimal("0.00"), Decimal("0.01"), Decimal("2666.67"),
                                             Decimal("2666.66"), Decimal("4000.00"), Decimal("8000.00")]) | cents,
                            min_size=12, max_size=12), min_size=4, max_size=4)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=amounts, month=st.integers(min_value=1, max_value=12))
def test_the_run_warns_exactly_those_strictly_above_their_line(people, shiyan, amounts, month):
    """Whatever the monthly amounts: warned ⇔ sum(m01…mM) > line, with the sum as is_above sees it."""
    lines = [Decimal("8000.00")] * 2 + [Decimal("16000.00")] * 2
    with transaction.atomic():
        for p, months in zip(people, amounts):
            ledger(p, 2024, **{f"m{m:02d}": v for m, v in enumerate(months, start=1)})
        run, _ = services.warning_run(actor=SYSTEM, region=shiyan.city, month=date(2024, month, 1), today=date(2025, 1, 1))
        got = {w.person_id: w.out_of_pocket for w in PersonWarning.objects.filter(run=run)}
        expected = {p.pk: rules.year_to_date(months, month) for p, months, line in zip(people, amounts, lines)
                    if rules.is_above(rules.year_to_date(months, month), line)}
        transaction.set_rollback(True)
    assert got == expected
