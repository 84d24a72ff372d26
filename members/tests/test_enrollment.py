"""Enrolment rules (DOMAIN.md §3) with the Shiyan pack: premium 2024 380, 2025 400; collection
period 1 Sep – 31 Dec of the previous year; waiting period 3 months from 2025 (0 before);
critical-illness base cap 400 000, incentives 3 000 from 2025, ceiling 20 %."""
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from members import services
from members.models import Enrollment

from .factories import register
from members.testing import clerk, supervisor


def enrol(person, year, paid_on, **kw):
    kw.setdefault("scheme", "resident")
    return services.enrollment_create(actor=clerk(), person=person, year=year, paid_on=paid_on, **kw)


def test_paid_in_collection_period_first_time_gets_the_whole_year(shiyan):
    """First-ever enrolment paid 2024-12-31 (last day of the 2025 collection period) counts as
    continuous: benefits 2025-01-01 – 2025-12-31, no waiting; amount defaults to 400."""
    e = enrol(register(shiyan), 2025, date(2024, 12, 31))
    assert (e.benefit_start, e.benefit_end, e.waiting_period) == (date(2025, 1, 1), date(2025, 12, 31), False)
    assert e.amount == Decimal("400.00") and e.continuous_years == 1
    assert e.critical_illness_cap == Decimal("400000.00")


def test_paid_one_day_after_collection_period_waits_three_months(shiyan):
    """Paid 2025-01-01, outside the collection period ⇒ benefits from 2025-01-01 + 3 months = 2025-04-01."""
    e = enrol(register(shiyan), 2025, date(2025, 1, 1))
    assert (e.benefit_start, e.waiting_period) == (date(2025, 4, 1), True)


def test_waiting_period_clamps_month_end(shiyan):
    """Paid 2025-11-30 ⇒ +3 months = 2026-02-28 > 31 Dec ⇒ refused (the year would be over)."""
    with pytest.raises(ValidationError) as exc:
        enrol(register(shiyan), 2025, date(2025, 11, 30))
    assert "paid_on" in exc.value.message_dict
    e = enrol(register(shiyan), 2025, date(2025, 8, 31))  # 2025-11-30: clamped to the 30th
    assert e.benefit_start == date(2025, 11, 30)


def test_before_2025_late_payment_has_no_waiting_period(shiyan):
    """2024 has waiting months 0: paid 2024-03-15 ⇒ benefits from the payment date, not flagged."""
    e = enrol(register(shiyan), 2024, date(2024, 3, 15))
    assert (e.benefit_start, e.waiting_period, e.amount) == (date(2024, 3, 15), False, Decimal("380.00"))


def test_break_and_reenrolment_restarts_continuity_waits_and_lowers_the_cap(shiyan):
    """Enrolled 2021, 2022; not 2023, 2024; pays 2025 in the collection period.
    Not continuous (2024 missing) ⇒ waiting: 2024-10-10 + 3 months = 2025-01-10.
    Continuity restarts at 1; break of 2 years ⇒ cap 400 000 − 2 × 3 000 = 394 000."""
    p = register(shiyan)
    enrol(p, 2021, date(2020, 10, 1))
    enrol(p, 2022, date(2021, 10, 1))
    e = enrol(p, 2025, date(2024, 10, 10))
    assert (e.benefit_start, e.waiting_period, e.continuous_years, e.break_years) == (date(2025, 1, 10), True, 1, 2)
    assert e.critical_illness_cap == Decimal("394000.00")


def test_continuity_bonus_after_four_years(shiyan):
    """Enrolled 2021–2024 (had claims each year), pays 2025 on time: 5 continuous years ⇒
    5 − 4 = 1 bonus year × 3 000 ⇒ cap 403 000."""
    p = register(shiyan)
    for y in range(2021, 2025):
        enrol(p, y, date(y - 1, 11, 1))
    services.enrollment_record_fund_payments(actor=supervisor(), person_ids=[p.pk], year=2021)
    services.enrollment_record_fund_payments(actor=supervisor(), person_ids=[p.pk], year=2022)
    services.enrollment_record_fund_payments(actor=supervisor(), person_ids=[p.pk], year=2023)
    services.enrollment_record_fund_payments(actor=supervisor(), person_ids=[p.pk], year=2024)
    e = enrol(p, 2025, date(2024, 11, 1))
    assert e.continuous_years == 5 and e.critical_illness_cap == Decimal("403000.00")


def test_zero_claim_years_add_a_bonus_each(shiyan):
    """Enrolled 2022–2024, fund paid in 2022 only (2023 and 2024 zero), all paid on time,
    pays 2025 on time: continuity 4 ⇒ no continuity bonus.  The incentives date from 2025
    (000 自2025年起): the zero-claim 2024 raises 2025 (+3 000); the zero-claim 2023 would have
    raised 2024, before the incentive existed, so it earns nothing ⇒ cap 403 000.
    (Before issue 12 this test expected 406 000, counting 2023 too — wrong by the seed.)"""
    p = register(shiyan)
    for y in range(2022, 2025):
        enrol(p, y, date(y - 1, 11, 1))
    services.enrollment_record_fund_payments(actor=supervisor(), person_ids=[p.pk], year=2022)
    e = enrol(p, 2025, date(2024, 11, 1))
    assert e.continuous_years == 4 and e.critical_illness_cap == Decimal("403000.00")


def test_incentives_date_from_2025_yicheng_worked_example(yicheng):
    """Issue 12: a Yicheng resident enrolled 2021–2025 on time who never claimed.  2025 is the
    5th continuous year: +3 000; zero-claim 2024 followed by the 2025 payment: +3 000; the
    zero-claim years 2021–2023 raised years before 2025 and earn nothing ⇒ 406 000 (not 415 000)."""
    p = register(yicheng)
    for y in range(2021, 2026):
        e = enrol(p, y, date(y - 1, 11, 1))
    assert e.year == 2025 and e.continuous_years == 5
    assert e.critical_illness_cap == Decimal("406000.00")


def test_incentives_count_only_years_from_2025(shiyan):
    """Enrolled 2001–2024 with no fund payment, pays 2025 on time: continuity 25, but only 2025
    can rise ⇒ one continuity bonus 3 000 + zero-claim 2024 3 000 ⇒ 406 000 (the old 480 000
    counted 21 continuity years and 24 zero-claim years before the incentive existed)."""
    p = register(shiyan, birth=date(1970, 1, 1))
    from members.models import Enrollment as E
    for y in range(2001, 2021):  # years before the packs: written directly as history
        E.objects.create(person=p, year=y, scheme="resident", paid_on=date(y - 1, 11, 1), amount=0,
                         benefit_start=date(y, 1, 1), benefit_end=date(y, 12, 31))
    for y in range(2021, 2025):
        enrol(p, y, date(y - 1, 11, 1))
    e = enrol(p, 2025, date(2024, 11, 1))
    assert e.continuous_years == 25 and e.critical_illness_cap == Decimal("406000.00")


def test_incentives_stop_at_twenty_percent_of_the_base_cap():
    """The rule alone: base 400 000, incentives from 2025, in 2045 a person continuous since
    2001 with 20 zero-claim years 2025–2044: continuity min(45 − 4, 2045 − 2025 + 1) = 21 ×
    3 000 = 63 000, zero-claim 21 × 3 000 = 63 000; together 126 000 > 20 % × 400 000 = 80 000
    ⇒ cap 480 000."""
    from members import rules as mrules
    params = mrules.CapParams(base=Decimal("400000"), continuity_min_years=4, continuity_bonus=Decimal("3000"),
                              zero_claim_bonus=Decimal("3000"), bonus_ceiling_rate=Decimal("0.20"),
                              break_penalty_per_year=Decimal("3000"), incentives_from=2025)
    history = {y: mrules.PriorYear(y) for y in range(2001, 2045)}
    zero = mrules.zero_claim_years(2045, 45, history, True, 2025)
    assert zero == 21
    assert mrules.critical_illness_cap(params, continuous_years=45, zero_claim_count=zero, break_years=0,
                                       year=2045) == Decimal("480000.00")


def test_caps_refresh_applies_a_zero_claim_year_that_ended_after_payment(shiyan):
    """2025 premium paid in Nov 2024 while a 2024 claim was on record ⇒ cap 400 000; the 2024
    claim is reversed ⇒ refresh gives the zero-claim bonus: 403 000."""
    p = register(shiyan)
    enrol(p, 2024, date(2023, 11, 1))
    services.enrollment_record_fund_payments(actor=supervisor(), person_ids=[p.pk], year=2024)
    e = enrol(p, 2025, date(2024, 11, 1))
    assert e.critical_illness_cap == Decimal("400000.00")
    services.enrollment_record_fund_payments(actor=supervisor(), person_ids=[p.pk], year=2024, paid=False)
    assert services.enrollment_caps_refresh(actor=supervisor(), year=2025) == 1
    e.refresh_from_db()
    assert e.critical_illness_cap == Decimal("403000.00")
    assert services.enrollment_caps_refresh(actor=supervisor(), year=2025) == 0


def test_newborn_born_in_collection_period_covered_from_payment(shiyan):
    """Born 2024-10-15, pays the 2025 premium on 2024-11-02 ⇒ benefits 2024-11-02 – 2025-12-31,
    no waiting period, 400 yuan."""
    baby = register(shiyan, birth=date(2024, 10, 15))
    e = enrol(baby, 2025, date(2024, 11, 2))
    assert (e.benefit_start, e.benefit_end, e.waiting_period, e.newborn) == (date(2024, 11, 2), date(2025, 12, 31), False, True)
    assert e.amount == Decimal("400.00")


def test_newborn_rule_not_in_force_before_2025(shiyan):
    """Born 2023-10-15, pays the 2024 premium on 2023-11-02: rule not in force ⇒ ordinary
    first enrolment in the collection period ⇒ 2024-01-01."""
    baby = register(shiyan, birth=date(2023, 10, 15))
    e = enrol(baby, 2024, date(2023, 11, 2))
    assert (e.benefit_start, e.newborn) == (date(2024, 1, 1), False)


def test_student_lump_sum_pays_first_year_standard_for_every_year(shiyan):
    """University student, 4 years from 2024, paid 2023-09-20: 380 × 4 = 1 520; 2025–2027 are
    prepaid at 380 even though the standard is 400 (no top-up)."""
    s = register(shiyan, birth=date(2005, 6, 1))
    lump = services.student_lump_sum_create(actor=clerk(), person=s, school="湖北汽车工业学院", first_year=2024, years=4,
                                            paid_on=date(2023, 9, 20))
    assert lump.total_amount == Decimal("1520.00")
    rows = list(Enrollment.objects.filter(person=s).order_by("year"))
    assert [(r.year, r.amount, r.benefit_start, r.via) for r in rows] == [
        (y, Decimal("380.00"), date(y, 1, 1), "school") for y in range(2024, 2028)]
    assert [r.continuous_years for r in rows] == [1, 2, 3, 4]


def test_student_lump_sum_refused_when_a_year_is_taken(shiyan):
    s = register(shiyan, birth=date(2005, 6, 1))
    enrol(s, 2025, date(2024, 10, 1))
    with pytest.raises(ValidationError) as exc:
        services.student_lump_sum_create(actor=clerk(), person=s, school="学校", first_year=2024, years=3, paid_on=date(2023, 9, 20))
    assert "2025" in exc.value.message_dict["first_year"][0]


def test_one_enrolment_per_person_year_scheme(shiyan):
    p = register(shiyan)
    enrol(p, 2024, date(2023, 10, 1))
    with pytest.raises(ValidationError):
        enrol(p, 2024, date(2023, 10, 2))


def test_moving_to_employee_scheme_ends_the_resident_one(shiyan):
    """Resident 2024 (1 Jan – 31 Dec); hired, employee enrolment paid 2024-06-15 ⇒ benefits from
    2024-06-01; the resident enrolment becomes inactive and ends 2024-05-31."""
    p = register(shiyan)
    r = enrol(p, 2024, date(2023, 10, 1))
    e = enrol(p, 2024, date(2024, 6, 15), scheme="employee", employee_status="in_service",
              contribution_base=Decimal("5000"))
    r.refresh_from_db()
    assert (r.active, r.benefit_end) == (False, date(2024, 5, 31))
    assert (e.active, e.benefit_start) == (True, date(2024, 6, 1))
    # 5 000 × 2 % × 12 = 1 200
    assert e.amount == Decimal("1200.00")
    assert Enrollment.objects.filter(person=p, year=2024, active=True).count() == 1


def test_employee_fields_are_checked(shiyan):
    p = register(shiyan)
    with pytest.raises(ValidationError) as exc:
        enrol(p, 2024, date(2024, 1, 5), scheme="employee")
    assert "employee_status" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        enrol(p, 2024, date(2024, 1, 5), scheme="employee", employee_status="in_service")
    assert "contribution_base" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        enrol(p, 2024, date(2023, 10, 1), employee_status="retired")
    assert "employee_status" in exc.value.message_dict
    retired = enrol(p, 2024, date(2024, 1, 5), scheme="employee", employee_status="retired")
    assert retired.amount == Decimal("0.00") and retired.critical_illness_cap is None


def test_wrong_resident_amount_is_refused_with_the_amount_due(shiyan):
    with pytest.raises(ValidationError) as exc:
        enrol(register(shiyan), 2024, date(2023, 10, 1), amount=Decimal("350"))
    assert "380" in exc.value.message_dict["amount"][0]


def test_payment_before_collection_period_or_after_year_is_refused(shiyan):
    p = register(shiyan)
    with pytest.raises(ValidationError):
        enrol(p, 2025, date(2024, 8, 31))
    with pytest.raises(ValidationError):
        enrol(p, 2024, date(2025, 1, 2))


def test_yicheng_pack_gives_the_same_waiting_period(yicheng):
    from .factories import register as reg

    e = services.enrollment_create(actor=clerk(), person=reg(yicheng), year=2025, scheme="resident", paid_on=date(2025, 2, 10))
    assert (e.benefit_start, e.waiting_period, e.amount) == (date(2025, 5, 10), True, Decimal("400.00"))
