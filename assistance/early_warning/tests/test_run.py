"""The monthly run (DOMAIN.md §7, §9) with the Shiyan pack.

Shiyan: rural per-capita disposable income in force on 1 Jan 2023 (= "last year" for 2024) is
16 000 yuan.  Return-to-poverty line = 0.50 × 16 000 = 8 000.00 for marginal, monitored and
stable_escaped; into-poverty line = 1.00 × 16 000 = 16 000.00 for ordinary resident insured.
"""
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from assistance.early_warning import services
from assistance.early_warning.models import PersonWarning, WarningKind, WarningRun
from yibao_site.services import policy_parameter_save

from .helpers import SYSTEM, add_county, employee, identity, ledger, person, resident

MARCH = date(2024, 3, 1)


def run(region, month=MARCH):
    return services.warning_run(actor=SYSTEM, region=region, month=month)[0]


def warned(run_, kind=None):
    qs = PersonWarning.objects.filter(run=run_)
    if kind:
        qs = qs.filter(kind=kind)
    return {w.person_id: w for w in qs}


def test_return_to_poverty_exactly_at_the_line_is_not_above_it(shiyan):
    """Lines: 0.50 × 16 000 = 8 000.00.  A: 3 000.00 + 5 000.00 = 8 000.00 → not warned;
    B: 3 000.00 + 5 000.01 = 8 000.01 → warned; C: 2 666.67 + 2 666.67 + 2 666.66 = 8 000.00 → not."""
    a, b, c = person(shiyan), person(shiyan), person(shiyan)
    identity(a, "monitored"), identity(b, "marginal", source="rural_revitalization"), identity(c, "stable_escaped")
    ledger(a, 2024, m01="3000.00", m02="5000.00")
    ledger(b, 2024, m01="3000.00", m03="5000.01")
    ledger(c, 2024, m01="2666.67", m02="2666.67", m03="2666.66")
    result = run(shiyan.city)
    got = warned(result, WarningKind.RETURN_TO_POVERTY)
    assert set(got) == {b.pk}
    assert got[b.pk].out_of_pocket == Decimal("8000.01")
    assert got[b.pk].threshold == Decimal("8000.00")
    assert result.thresholds[shiyan.county.code]["return_to_poverty"] == "8000.00"
    assert result.thresholds[shiyan.county.code]["income"] == "16000"


def test_into_poverty_exactly_at_the_line_is_not_above_it(shiyan):
    """Line 1.00 × 16 000 = 16 000.00.  D 16 000.00 → no; E 10 000.00 + 6 000.01 = 16 000.01 → yes."""
    d, e = person(shiyan), person(shiyan, township=1)
    resident(d, 2024), resident(e, 2024)
    ledger(d, 2024, m02="16000.00")
    ledger(e, 2024, m01="10000.00", m03="6000.01")
    result = run(shiyan.city)
    got = warned(result)
    assert set(got) == {e.pk}
    assert got[e.pk].kind == WarningKind.INTO_POVERTY
    assert (got[e.pk].out_of_pocket, got[e.pk].threshold) == (Decimal("16000.01"), Decimal("16000.00"))
    assert got[e.pk].township == shiyan.townships[1]


def test_months_after_the_run_month_do_not_count(shiyan):
    """Year-to-date through March = m01 + m02 + m03: 9 000 + 0 + 0; April's 50 000 is not in it."""
    p = person(shiyan)
    resident(p, 2024)
    ledger(p, 2024, m01="9000.00", m04="50000.00")
    assert warned(run(shiyan.city)) == {}
    assert set(warned(run(shiyan.city, date(2024, 4, 1)))) == {p.pk}


def test_groups_are_decided_by_identity_valid_in_the_month_and_resident_enrolment(shiyan):
    """All at 20 000.00 (above both lines):
    - monitored valid through March → return-to-poverty;
    - monitored identity ended 29 Feb, resident → an ordinary resident now → into-poverty;
    - monitored identity starting 31 March → return-to-poverty (valid on a day of the month);
    - subsistence (低保, not a warning kind) resident → neither list (already an assistance object);
    - employee scheme only, no identity → neither (into-poverty is for resident insured);
    - no enrolment this year → neither; last year's ledger → ignored."""
    monitored, ended, starting, subsistence, worker, unenrolled = (person(shiyan) for _ in range(6))
    identity(monitored, "monitored", valid_to=date(2024, 3, 31))
    identity(ended, "monitored", valid_to=date(2024, 2, 29))
    identity(starting, "monitored", valid_from=date(2024, 3, 31))
    identity(subsistence, "subsistence")
    for p in (ended, subsistence, monitored):
        resident(p, 2024)
    employee(worker, 2024)
    resident(unenrolled, 2023)
    for p in (monitored, ended, starting, subsistence, worker, unenrolled):
        ledger(p, 2024, m03="20000.00")
    ledger(unenrolled, 2023, m03="30000.00")
    got = warned(run(shiyan.city))
    assert {pk: w.kind for pk, w in got.items()} == {
        monitored.pk: WarningKind.RETURN_TO_POVERTY,
        starting.pk: WarningKind.RETURN_TO_POVERTY,
        ended.pk: WarningKind.INTO_POVERTY,
    }


def test_new_this_month_versus_continuing_from_last_month(shiyan):
    """February: A (9 000 > 8 000) on the list.  March: A still above (continuing, is_new false),
    B crosses in March (9 000 + 8 000 = 17 000 > 16 000, new); C was not on February's list."""
    a, b = person(shiyan), person(shiyan)
    identity(a, "marginal")
    resident(b, 2024)
    ledger(a, 2024, m02="9000.00")
    ledger(b, 2024, m02="9000.00", m03="8000.00")
    feb = run(shiyan.city, date(2024, 2, 1))
    assert {pk: w.is_new for pk, w in warned(feb).items()} == {a.pk: True}
    march = run(shiyan.city)
    assert {pk: w.is_new for pk, w in warned(march).items()} == {a.pk: False, b.pk: True}
    assert (march.count, march.return_count, march.into_count, march.new_count) == (2, 1, 1, 1)


def test_running_the_same_month_again_changes_nothing(shiyan):
    """Second run: same run returned, no new warning, history or delivery row."""
    p = person(shiyan)
    identity(p, "monitored")
    ledger(p, 2024, m01="8500.00")
    first, created = services.warning_run(actor=SYSTEM, region=shiyan.city, month=MARCH)
    counts = (PersonWarning.objects.count(), PersonWarning.history.count(), first.deliveries.count(),
              WarningRun.history.count())
    ledger(person(shiyan), 2024, m01="99999.00")  # even new data does not change a month already sent
    again, created_again = services.warning_run(actor=SYSTEM, region=shiyan.city, month=MARCH)
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert (PersonWarning.objects.count(), PersonWarning.history.count(), again.deliveries.count(),
            WarningRun.history.count()) == counts == (1, 1, 2, 2)


def test_every_warning_gets_a_creation_history_row(shiyan, staff):
    p = person(shiyan)
    identity(p, "monitored")
    ledger(p, 2024, m01="8500.00")
    services.warning_run(region=shiyan.city, month=MARCH, actor=staff["supervisor"])
    row = PersonWarning.history.get()
    assert (row.history_type, row.person_id, row.history_user) == ("+", p.pk, staff["supervisor"])
    assert row.out_of_pocket == Decimal("8500.00")


def test_a_county_override_of_income_gives_that_county_its_own_lines(shiyan):
    """Second county 张湾区 overrides 2023 rural income with 20 000: its lines are
    0.50 × 20 000 = 10 000.00 and 20 000.00; 茅箭区 keeps 8 000.00 / 16 000.00.
    Both monitored at 9 000: only the 茅箭区 person is above their line."""
    county, _town, village = add_county(shiyan)
    policy_parameter_save(region=county, key="income.rural_per_capita", value="20000",
                          effective_from=date(2023, 1, 1), illustrative=True)
    here, there = person(shiyan), person(shiyan, village=village, county=county.code)
    identity(here, "monitored"), identity(there, "monitored")
    ledger(here, 2024, m01="9000.00"), ledger(there, 2024, m01="9000.00")
    result = run(shiyan.city)
    assert set(warned(result)) == {here.pk}
    assert result.thresholds[county.code]["return_to_poverty"] == "10000.00"
    assert result.thresholds[county.code]["into_poverty"] == "20000.00"
    assert result.thresholds[shiyan.county.code]["return_to_poverty"] == "8000.00"


def test_a_county_run_and_a_city_run_of_the_same_month_cannot_overlap(shiyan):
    run(shiyan.county)
    with pytest.raises(ValidationError) as err:
        run(shiyan.city)
    assert "region" in err.value.message_dict


@pytest.mark.parametrize("month", [date(2026, 11, 1), date(2030, 1, 1)])
def test_a_month_not_yet_ended_is_refused(shiyan, month):
    with pytest.raises(ValidationError) as err:
        services.warning_run(actor=SYSTEM, region=shiyan.city, month=month, today=date(2026, 11, 22))
    assert "month" in err.value.message_dict


def test_a_township_is_not_a_run_region(shiyan):
    with pytest.raises(ValidationError) as err:
        run(shiyan.townships[0])
    assert "region" in err.value.message_dict


def test_no_deliveries_are_pushed_without_endpoints_they_wait_for_download(shiyan):
    result = run(shiyan.city)
    assert sorted(result.deliveries.values_list("department", "channel", "status")) == [
        ("civil_affairs", "download", "awaiting_download"),
        ("rural_revitalization", "download", "awaiting_download"),
    ]
