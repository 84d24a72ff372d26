"""Subsidy batches (DOMAIN.md §4).  Shiyan: premium 2022 320, 2023 350, 2024 380, 2025 400;
rates extreme_poverty/orphan 100 %, subsistence/returned_poverty 90 %, monitored 50 %,
marginal none; stable_escaped phase-out × 280: 2022 80 %, 2023 50 %, 2024 30 %, 2025 0."""
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from openpyxl import load_workbook
from io import BytesIO

from members import services
from members.exports import subsidy_batch_xlsx
from members.models import SubsidyLine
from members.selectors import subsidy_batch_totals

from .factories import register
from members.testing import clerk


def ident(p, kind, start=date(2020, 1, 1), end=None, source="civil_affairs"):
    return services.identity_add(actor=clerk(), person=p, kind=kind, valid_from=start, valid_to=end, source=source)


def line(batch, person):
    return SubsidyLine.objects.get(batch=batch, person=person)


def test_highest_identity_only_and_rates(shiyan):
    """2024: subsistence 90 % × 380 = 342.00 beats monitored 50 % × 380 = 190.00;
    extreme poverty 380.00; marginal alone gets nothing; total 342 + 380 = 722.00."""
    a, b, c = register(shiyan), register(shiyan, township=1), register(shiyan)
    ident(a, "subsistence")
    ident(a, "monitored", source="rural_revitalization")
    ident(b, "extreme_poverty")
    ident(c, "marginal")
    batch = services.subsidy_batch_build(actor=clerk(), region=shiyan.city, year=2024)
    assert (line(batch, a).kind, line(batch, a).amount) == ("subsistence", Decimal("342.00"))
    assert line(batch, b).amount == Decimal("380.00")
    assert not SubsidyLine.objects.filter(person=c).exists()
    assert (batch.count, batch.total_amount) == (2, Decimal("722.00"))
    totals = subsidy_batch_totals(batch)
    assert [(r["kind"], r["count"], r["amount"]) for r in totals["by_kind"]] == [
        ("extreme_poverty", 1, Decimal("380.00")), ("subsistence", 1, Decimal("342.00"))]
    assert [r["township__code"] for r in totals["by_township"]] == [shiyan.townships[0].code, shiyan.townships[1].code]


@pytest.mark.parametrize("year,amount", [(2022, "224.00"), (2023, "140.00"), (2024, "84.00"), (2025, None)])
def test_stable_escaped_phase_out_every_year(shiyan, year, amount):
    """280 × 80 % = 224.00; × 50 % = 140.00; × 30 % = 84.00; 2025: 0 ⇒ no line."""
    p = register(shiyan)
    ident(p, "stable_escaped", source="rural_revitalization")
    batch = services.subsidy_batch_build(actor=clerk(), region=shiyan.county, year=year)
    got = SubsidyLine.objects.filter(batch=batch, person=p).values_list("amount", flat=True).first()
    assert got == (Decimal(amount) if amount else None)


def test_phase_out_loses_to_a_higher_identity(shiyan):
    """2024: stable_escaped 84.00 vs monitored 190.00 ⇒ monitored."""
    p = register(shiyan)
    ident(p, "stable_escaped", source="rural_revitalization")
    ident(p, "monitored", source="rural_revitalization")
    batch = services.subsidy_batch_build(actor=clerk(), region=shiyan.city, year=2024)
    assert (line(batch, p).kind, line(batch, p).amount) == ("monitored", Decimal("190.00"))


def test_identity_counts_when_valid_any_day_of_the_year(shiyan):
    ended = register(shiyan)
    ident(ended, "orphan", end=date(2023, 12, 31))
    late = register(shiyan)
    ident(late, "orphan", start=date(2024, 12, 31))
    first_day = register(shiyan)
    ident(first_day, "orphan", end=date(2024, 1, 1))
    batch = services.subsidy_batch_build(actor=clerk(), region=shiyan.city, year=2024)
    assert set(batch.lines.values_list("person_id", flat=True)) == {late.pk, first_day.pk}


def test_yicheng_full_rates(yicheng):
    """Yicheng 2024: marginal 100 % × 380 = 380.00."""
    p = register(yicheng)
    ident(p, "marginal")
    batch = services.subsidy_batch_build(actor=clerk(), region=yicheng.city, year=2024)
    assert line(batch, p).amount == Decimal("380.00")


def test_rebuild_until_confirmed_then_frozen(shiyan, staff):
    p = register(shiyan)
    ident(p, "orphan")
    batch = services.subsidy_batch_build(region=shiyan.city, year=2024, actor=staff["clerk"])
    q = register(shiyan)
    ident(q, "orphan")
    batch = services.subsidy_batch_build(region=shiyan.city, year=2024, actor=staff["clerk"])
    assert batch.count == 2 and SubsidyLine.objects.count() == 2
    with pytest.raises(PermissionDenied):
        services.subsidy_batch_confirm(batch=batch, actor=staff["clerk"])
    services.subsidy_batch_confirm(batch=batch, actor=staff["supervisor"])
    with pytest.raises(ValidationError) as exc:
        services.subsidy_batch_build(actor=clerk(), region=shiyan.city, year=2024)
    assert "冻结" in exc.value.messages[0]


def test_overlapping_batches_refused_so_no_one_is_subsidised_twice(shiyan):
    p = register(shiyan)
    ident(p, "orphan")
    services.subsidy_batch_build(actor=clerk(), region=shiyan.townships[0], year=2024)
    with pytest.raises(ValidationError):
        services.subsidy_batch_build(actor=clerk(), region=shiyan.county, year=2024)
    services.subsidy_batch_build(actor=clerk(), region=shiyan.townships[1], year=2024)


def test_confirmed_subsidy_lowers_the_amount_due(shiyan, staff):
    """Subsistence 2024: subsidy 342.00 ⇒ the person pays 380 − 342 = 38.00."""
    p = register(shiyan)
    ident(p, "subsistence")
    batch = services.subsidy_batch_build(actor=clerk(), region=shiyan.city, year=2024)
    services.subsidy_batch_confirm(batch=batch, actor=staff["supervisor"])
    e = services.enrollment_create(actor=clerk(), person=p, year=2024, scheme="resident", paid_on=date(2023, 10, 1))
    assert (e.amount, e.subsidy_amount) == (Decimal("38.00"), Decimal("342.00"))


def test_xlsx_for_the_tax_bureau(shiyan):
    p = register(shiyan)
    ident(p, "orphan")
    batch = services.subsidy_batch_build(actor=clerk(), region=shiyan.city, year=2024)
    wb = load_workbook(BytesIO(subsidy_batch_xlsx(batch)))
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[1][0] == p.id_number and rows[1][7] == "380.00"
    assert list(wb.worksheets[1].iter_rows(values_only=True))[-1] == ("合计", 1, "380.00")


def test_imported_later_year_in_a_later_batch_gets_its_subsidy(shiyan, staff, monkeypatch):
    """An enrolments file with a person's 2024 in one batch and 2025 in the next: the 2025 row
    is reduced by that year's confirmed subsidy too (it was left at 0 when a batch only looked
    up the subsidies of the persons it met first)."""
    from members.importers import EnrollmentImporter
    from members.models import Enrollment

    from .test_importers import csv_bytes, run

    p, q = register(shiyan), register(shiyan)
    ident(p, "subsistence")
    expected = {}
    for year in (2024, 2025):
        batch = services.subsidy_batch_build(actor=clerk(), region=shiyan.city, year=year)
        services.subsidy_batch_confirm(batch=batch, actor=staff["supervisor"])
        expected[year] = line(batch, p).amount
    assert all(expected.values())
    monkeypatch.setattr(EnrollmentImporter, "batch_size", 2)
    header = ["person", "year", "scheme", "employee_status", "paid_on", "amount", "contribution_base", "via"]
    rows = [[p.id_number, 2024, "resident", "", "2023-10-01", "", "", ""],
            [q.id_number, 2024, "resident", "", "2023-10-01", "", "", ""],
            [p.id_number, 2025, "resident", "", "2024-10-01", "", "", ""]]
    report = run("enrollments", csv_bytes(header, rows), actor=staff["clerk"])
    assert report.ok, report.errors
    got = dict(Enrollment.objects.filter(person=p).values_list("year", "subsidy_amount"))
    assert got == expected
    assert Enrollment.objects.get(person=q, year=2024).subsidy_amount == Decimal("0.00")
