import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from openpyxl import Workbook

from members.models import Enrollment, Identity, Person
from yibao_site.imports import importer_for, read_table
from yibao_site.testing import make_id_number

from .factories import register


def csv_bytes(header, rows):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def run(resource, data, **kw):
    return importer_for(resource)().run(read_table(data, filename="x.csv"), **kw)


def person_rows(j, n=3):
    return [[make_id_number("420302", date(1980, 1, 1 + i), 500 + i), f"人{i}", j.village(i % 2, 0).code, "", ""]
            for i in range(n)]


HEADER = ["id_number", "name", "village", "phone", "household_no"]


def test_good_person_file_lands_whole_and_second_import_changes_nothing(shiyan):
    data = csv_bytes(HEADER, person_rows(shiyan))
    report = run("persons", data)
    assert report.ok and (report.created, report.updated, report.unchanged) == (3, 0, 0)
    assert Person.objects.filter(township=shiyan.townships[1]).count() == 1
    history = Person.history.count()
    again = run("persons", data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert Person.history.count() == history


def test_bad_person_file_is_rejected_whole_with_row_numbers(shiyan):
    rows = person_rows(shiyan, 4)
    rows[1][0] = rows[1][0][:-1] + ("0" if rows[1][0][-1] != "0" else "1")  # row 3: bad check character
    rows[3][2] = "999"                                                      # row 5: unknown village
    report = run("persons", csv_bytes(HEADER, rows))
    assert not report.ok
    assert sorted({(e.row, e.field) for e in report.errors}) == [(3, "id_number"), (5, "village")]
    assert Person.objects.count() == 0


def test_duplicate_id_in_file_and_sex_mismatch_reported(shiyan):
    rows = person_rows(shiyan, 2)
    rows.append(list(rows[0]))
    header = HEADER + ["sex"]
    rows = [r + ["男"] for r in rows]
    rows[1][5] = "F"  # a man's ID (odd 17th digit) marked F
    report = run("persons", csv_bytes(header, rows))
    assert sorted((e.row, e.field) for e in report.errors) == [(3, "sex")]
    rows[1][5] = "M"
    report = run("persons", csv_bytes(header, rows))
    assert [(e.row, e.field) for e in report.errors] == [(4, "id_number")]


def test_changed_person_is_updated(shiyan):
    rows = person_rows(shiyan, 2)
    run("persons", csv_bytes(HEADER, rows))
    rows[0][1] = "改名"
    report = run("persons", csv_bytes(HEADER, rows))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert Person.objects.get(id_number=rows[0][0]).name == "改名"


def test_xlsx_with_chinese_headers(shiyan):
    wb = Workbook()
    ws = wb.active
    ws.append(["公民身份号码", "姓名", "村(社区)"])
    for r in person_rows(shiyan, 2):
        ws.append(r[:3])
    buf = io.BytesIO()
    wb.save(buf)
    report = importer_for("persons")().run(read_table(buf.getvalue(), filename="p.xlsx"))
    assert report.ok and report.created == 2


def test_enrollments_file_same_rules_as_the_api(shiyan):
    """Row 2: 2024 in collection ⇒ 380, whole year.  Row 3: same person 2025 paid late
    ⇒ waiting 2025-02-10 + 3 m = 2025-05-10.  Row 4: employee, base 5 000 ⇒ 1 200."""
    a, b = register(shiyan), register(shiyan)
    header = ["person", "year", "scheme", "employee_status", "paid_on", "amount", "contribution_base"]
    rows = [[a.id_number, 2025, "resident", "", "2025-02-10", "", ""],
            [a.id_number, 2024, "resident", "", "2023-10-01", "", ""],
            [b.id_number, 2024, "employee", "in_service", "2024-01-10", "", "5000"]]
    data = csv_bytes(header, rows)
    report = run("enrollments", data)
    assert report.ok, [str(e) for e in report.errors]
    e24, e25 = Enrollment.objects.filter(person=a).order_by("year")
    assert (e24.amount, e24.benefit_start, e24.continuous_years) == (Decimal("380.00"), date(2024, 1, 1), 1)
    assert (e25.benefit_start, e25.waiting_period, e25.continuous_years) == (date(2025, 5, 10), True, 2)
    assert Enrollment.objects.get(person=b).amount == Decimal("1200.00")
    assert b.personal_account.opened_on == date(2024, 1, 10)
    again = run("enrollments", data)
    assert (again.created, again.unchanged) == (0, 3)


def test_bad_enrollments_file_writes_nothing(shiyan):
    a = register(shiyan)
    header = ["person", "year", "scheme", "employee_status", "paid_on", "amount"]
    rows = [[a.id_number, 2024, "resident", "", "2023-10-01", ""],
            ["420302199001010000", 2024, "resident", "", "2023-10-01", ""],
            [a.id_number, 2025, "resident", "", "2024-10-01", "1.234"],
            [a.id_number, 2023, "resident", "", "not a date", ""]]
    report = run("enrollments", csv_bytes(header, rows))
    assert sorted({(e.row, e.field) for e in report.errors}) == [(3, "person"), (4, "amount"), (5, "paid_on")]
    assert Enrollment.objects.count() == 0


def test_identities_file_and_reimport(shiyan):
    a, b = register(shiyan), register(shiyan)
    header = ["person", "kind", "valid_from", "valid_to", "source"]
    rows = [[a.id_number, "subsistence", "2024-01-01", "", "civil_affairs"],
            [b.id_number, "monitored", "2024-03-01", "2024-12-31", "rural_revitalization"]]
    assert run("identities", csv_bytes(header, rows)).created == 2
    again = run("identities", csv_bytes(header, rows))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    rows[0][3] = "2025-06-30"
    assert run("identities", csv_bytes(header, rows)).updated == 1
    rows.append([a.id_number, "subsistence", "2025-01-01", "", "civil_affairs"])  # overlaps row 2
    rows.append([b.id_number, "rich", "2025-01-01", "", "civil_affairs"])
    report = run("identities", csv_bytes(header, rows))
    assert sorted({(e.row, e.field) for e in report.errors}) == [(4, "valid_from"), (5, "kind")]
    assert Identity.objects.count() == 2


def test_import_data_command_exits_non_zero_on_a_bad_file(shiyan, tmp_path, capsys):
    path = tmp_path / "p.csv"
    rows = person_rows(shiyan, 2)
    rows[0][0] = "123"
    path.write_bytes(csv_bytes(HEADER, rows))
    with pytest.raises(SystemExit) as exc:
        call_command("import_data", "persons", str(path), "--quiet")
    assert exc.value.code == 1
    assert "第 2 行" in capsys.readouterr().out
    assert Person.objects.count() == 0
    rows[0][0] = make_id_number("420302", date(1999, 9, 9))
    path.write_bytes(csv_bytes(HEADER, rows))
    call_command("import_data", "persons", str(path), "--quiet", "--dry-run")
    assert Person.objects.count() == 0
    call_command("import_data", "persons", str(path), "--quiet")
    assert Person.objects.count() == 2


def test_enrollments_rows_alike_computed_once_give_what_each_row_gives(shiyan):
    """The importer computes the derived fields once for rows alike (same policy, payment,
    history; birth date only where it matters): every row equals its own computation,
    including persons born in the collection period and a person with an earlier year."""
    from members import rules, services
    from members.importers import EnrollmentImporter

    births = [date(1980, 5, 1), date(1981, 6, 2), date(2023, 11, 1), date(2023, 11, 20), date(1990, 1, 1)]
    people = [register(shiyan, birth=b) for b in births]
    header = ["person", "year", "scheme", "paid_on"]
    rows = [[p.id_number, 2024, "resident", "2023-12-01"] for p in people]
    rows.append([people[4].id_number, 2025, "resident", "2024-11-01"])  # a second year: history
    rows.append([people[0].id_number, 2025, "resident", "2025-02-10"])  # late: waiting period
    importer = EnrollmentImporter()
    report = importer.run(read_table(csv_bytes(header, rows), filename="x.csv"))
    assert report.ok, [str(e) for e in report.errors]
    derived = ("amount", "benefit_start", "benefit_end", "waiting_period", "continuous_years", "critical_illness_cap",
               "newborn", "break_years", "policy_version")
    for p in people:
        history = {}
        for e in Enrollment.objects.filter(person=p).order_by("year"):
            ref = importer.persons[p.id_number]
            expected = services.enrollment_fields(
                person=ref, year=e.year, scheme=e.scheme, paid_on=e.paid_on, via=e.via, history=history,
                policy=importer.policy(ref, e.year, e.scheme, ""))
            assert tuple(getattr(e, f) for f in derived) == tuple(expected[f] for f in derived), (p.birth_date, e.year)
            history[e.year] = rules.PriorYear(e.year, e.waiting_period)
    assert len(importer.computed) < len(rows)


def test_enrollments_several_years_alike_recomputed_once_give_what_each_row_gives(shiyan):
    """Persons with several new years in the file are recomputed in year order (``check_file``);
    persons alike share that recomputation (issue 14: the demo's persons have three years each).
    Every row still equals its own year-by-year computation — late first-time payers,
    a newborn, employees with a base — and there are fewer recomputations than rows."""
    from members import rules, services
    from members.importers import EnrollmentImporter

    births = [date(1980, 5, 1), date(1981, 6, 2), date(1982, 7, 3), date(1983, 8, 4), date(2022, 11, 20),
              date(1970, 2, 2), date(1971, 3, 3)]
    people = [register(shiyan, birth=b) for b in births]
    header = ["person", "year", "scheme", "employee_status", "paid_on", "contribution_base"]
    rows = []
    for i, p in enumerate(people):
        for year in (2023, 2024, 2025):
            if i >= 5:  # two employees alike
                rows.append([p.id_number, year, "employee", "in_service", f"{year}-01-10", "5000"])
                continue
            paid = f"{year - 1}-12-01"
            if i in (2, 3) and year == 2023:  # two late first-time payers alike (from 2024)
                continue
            if i in (2, 3) and year == 2024:
                paid = "2024-03-10"
            if i == 4 and year == 2023:  # a newborn paying after the birth
                paid = "2022-12-05"
            rows.append([p.id_number, year, "resident", "", paid, ""])
    importer = EnrollmentImporter()
    report = importer.run(read_table(csv_bytes(header, rows), filename="x.csv"))
    assert report.ok, [str(e) for e in report.errors]
    assert report.created == len(rows)
    derived = ("amount", "benefit_start", "benefit_end", "waiting_period", "continuous_years", "critical_illness_cap",
               "newborn", "break_years", "policy_version")
    for p in people:
        history = {}
        ref = importer.persons[p.id_number]
        for e in Enrollment.objects.filter(person=p).order_by("year"):
            expected = services.enrollment_fields(
                person=ref, year=e.year, scheme=e.scheme, paid_on=e.paid_on, via=e.via, history=history,
                employee_status=e.employee_status, contribution_base=e.contribution_base,
                policy=importer.policy(ref, e.year, e.scheme, e.employee_status))
            assert tuple(getattr(e, f) for f in derived) == tuple(expected[f] for f in derived), (p.birth_date, e.year)
            history[e.year] = rules.PriorYear(e.year, e.waiting_period)
    assert len(set(Enrollment.objects.values_list("benefit_start", "continuous_years", "scheme"))) > 3  # not all alike
    assert 0 < len(importer.recomputed) < len(rows)


def test_the_file_door_reads_and_runs_a_file_off_postgresql(shiyan, tmp_path):
    """``run_file`` (the command's and the background jobs' door): off PostgreSQL every file
    is read and run by the Python path, a file of more than the server-side threshold too."""
    from django.db import connection

    from yibao_site.audit import COPY_THRESHOLD

    rows = [[make_id_number("420302", date(1960, 1, 1) + timedelta(days=i), 3), f"人{i}", shiyan.village().code, "",
             ""] for i in range(COPY_THRESHOLD + 5)]
    importer = importer_for("persons")()
    report = importer.run_file(csv_bytes(HEADER, rows), "p.csv")
    assert report.ok and report.created == COPY_THRESHOLD + 5 and Person.objects.count() == COPY_THRESHOLD + 5
    assert bool(importer.rows) == (connection.vendor != "postgresql")


def test_enrolments_import_works_out_again_a_cap_whose_year_before_changed_meanwhile(shiyan, monkeypatch):
    """Shiyan from 2025: zero-claim 2024 + 2025 paid on time ⇒ 403 000.  The file's look-ups
    read 2024 as zero-claim for both persons; before the write, a settlement records a 2024
    fund payment for ``a`` (committed in between — here simply run there).  The write locks
    the 2024 rows, reads them again and gives ``a`` 400 000; ``b`` keeps 403 000."""
    from members import services
    from members.importers import EnrollmentImporter
    from members.testing import clerk, supervisor

    a, b = register(shiyan), register(shiyan)
    for p in (a, b):
        services.enrollment_create(actor=clerk(), person=p, year=2024, scheme="resident", paid_on=date(2023, 11, 1))
    original = EnrollmentImporter.check_file

    def check_file(self, rows, cleaned):
        out = original(self, rows, cleaned)
        services.enrollment_record_fund_payments(actor=supervisor(), person_ids=[a.pk], year=2024)
        return out

    monkeypatch.setattr(EnrollmentImporter, "check_file", check_file)
    data = csv_bytes(["person", "year", "scheme", "paid_on"],
                     [[p.id_number, 2025, "resident", "2024-11-01"] for p in (a, b)])
    report = run("enrollments", data)
    assert report.ok and report.created == 2, [str(e) for e in report.errors]
    assert Enrollment.objects.get(person=a, year=2025).critical_illness_cap == Decimal("400000.00")
    assert Enrollment.objects.get(person=b, year=2025).critical_illness_cap == Decimal("403000.00")
