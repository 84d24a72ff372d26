"""The enrolments import's write on PostgreSQL (``insert_shared_rows_audited``): each distinct
value tuple sent once, rows and their history written by the server in one statement.  What
it writes is what the COPY door (``insert_rows_audited``) writes for the same file, column by
column: the same rows in the same key order, the same history, one timestamp a batch."""
from datetime import date, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from members.models import Enrollment, PersonalAccount
from yibao_site import audit
from yibao_site.audit import COPY_THRESHOLD
from yibao_site.testing import make_id_number

from .test_importers import HEADER, csv_bytes, run

pytestmark = pytest.mark.postgres

N = COPY_THRESHOLD + 40
_HEADER = ["person", "year", "scheme", "employee_status", "paid_on", "amount", "contribution_base", "via"]
_SKIP = {"id", "created_at"}
_FIELDS = [f.attname for f in Enrollment._meta.concrete_fields if f.attname not in _SKIP]
_HISTORY = [f.attname for f in Enrollment.history.model._meta.concrete_fields
            if f.attname not in _SKIP | {"history_id", "history_date"}]


def _ids(n):
    births = [date(1950, 1, 1) + timedelta(days=37 * i) for i in range(n - 4)]
    births += [date(2024, 10, 20), date(2024, 11, 5), date(2025, 1, 3), date(2024, 12, 30)]  # newborns
    return [make_id_number("420302", b, 11, "M" if i % 2 else "F") for i, b in enumerate(births)]


def _rows(ids):
    """Residents in the collection period and late (each its own date: many distinct tuples),
    employees in service with a base and retired, a channel given, a second year in the file."""
    rows = []
    for i, idn in enumerate(ids):
        kind = i % 6
        if kind == 0 or i >= len(ids) - 4:
            rows.append([idn, 2025, "resident", "", "2025-01-05" if i >= len(ids) - 4 else "2024-11-15", "", "", ""])
        elif kind == 1:
            rows.append([idn, 2025, "resident", "", (date(2025, 1, 1) + timedelta(days=i % 90)).isoformat(), "", "",
                         "window"])
        elif kind == 2:
            rows.append([idn, 2025, "employee", "in_service", "2025-01-10", "", "5000", ""])
        elif kind == 3:
            rows.append([idn, 2025, "employee", "retired", "2025-01-10", "", "", ""])
        elif kind == 4:
            rows.append([idn, 2025, "resident", "", "2024-12-01", "", "", "import"])
        else:  # two years of one person in the file: each sees the year before it
            rows.append([idn, 2026, "resident", "", "2025-11-20", "", "", ""])
            rows.append([idn, 2025, "resident", "", "2024-12-20", "", "", ""])
    return rows


def _snapshot():
    rows = list(Enrollment.objects.order_by("id").values_list("id", *_FIELDS))
    order = {pk: i for i, (pk, *_rest) in enumerate(rows)}
    history = list(Enrollment.history.order_by("history_id").values_list("id", "history_date", "created_at",
                                                                          *_HISTORY))
    new = {pk for pk, in Enrollment.objects.filter(year__gte=2025).values_list("id")}  # (the earlier file: 2024)
    stamps = {h[1] for h in history if h[0] in new} | {h[2] for h in history if h[0] in new}
    accounts = sorted(PersonalAccount.objects.values_list("person_id", "opened_on", "balance"))
    return ([tuple(r[1:]) for r in rows], sorted((order[h[0]], *h[3:]) for h in history),
            {h[0] for h in history} == set(order), len(stamps), accounts)


def _import(data, actor, *, copy_door: bool, monkeypatch):
    """Run the import in a savepoint, snapshot what it wrote, and roll it back."""
    with monkeypatch.context() as m:
        if copy_door:
            m.setattr(audit, "SHARED_MAX_DISTINCT", 0)
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            report = run("enrollments", data, actor=actor)
            assert report.ok, [str(e) for e in report.errors]
            snap = _snapshot()
            transaction.set_rollback(True)
    shared = any(q["sql"].startswith("WITH v (i,") for q in queries.captured_queries)
    return report, snap, shared


def test_shared_write_writes_what_the_copy_door_writes(shiyan, staff, monkeypatch):
    ids = _ids(N)
    persons = [[idn, f"人{i}", shiyan.village(i % 2, 0).code, "", ""] for i, idn in enumerate(ids)]
    assert run("persons", csv_bytes(HEADER, persons), actor=staff["clerk"]).ok
    # A third of them enrolled in 2024 already: continuity from the database.
    earlier = [[idn, 2024, "resident", "", "2023-11-15", "", "", ""] for idn in ids[: N // 3]]
    assert run("enrollments", csv_bytes(_HEADER, earlier), actor=staff["clerk"]).ok
    data = csv_bytes(_HEADER, _rows(ids))

    copy_report, copy_snap, copy_shared = _import(data, staff["clerk"], copy_door=True, monkeypatch=monkeypatch)
    report, snap, shared = _import(data, staff["clerk"], copy_door=False, monkeypatch=monkeypatch)
    assert shared and not copy_shared
    assert (report.created, report.updated, report.unchanged) == (copy_report.created, 0, 0)
    rows, history, linked, stamps, accounts = snap
    assert rows == copy_snap[0]  # every column, in key order
    assert history == copy_snap[1]  # every column, each on its row
    assert linked and copy_snap[2]
    assert stamps == copy_snap[3] == 1  # one timestamp (one batch), rows and history alike
    assert accounts == copy_snap[4] and accounts
    assert len(rows) == N // 3 + len(_rows(ids))
    # What the rules say, not only what both doors say: a newborn, a waiting period, an employee.
    written = {(r[_FIELDS.index("person_id")], r[_FIELDS.index("year")]): dict(zip(_FIELDS, r)) for r in rows}
    assert any(r["newborn"] for r in written.values()) and any(r["waiting_period"] for r in written.values())
    assert {r["via"] for r in written.values()} >= {"window", "import"}
    assert any(r["contribution_base"] for r in written.values())
    assert Enrollment.history.filter(history_change_reason="导入年度参保", history_user_id=staff["clerk"].pk,
                                     history_type="+").count() == N // 3  # the rolled-back rows left nothing


def test_too_many_distinct_tuples_take_the_copy_door(shiyan, staff, monkeypatch):
    ids = _ids(N)
    persons = [[idn, f"人{i}", shiyan.village(i % 2, 0).code, "", ""] for i, idn in enumerate(ids)]
    assert run("persons", csv_bytes(HEADER, persons), actor=staff["clerk"]).ok
    data = csv_bytes(_HEADER, _rows(ids))
    monkeypatch.setattr(audit, "SHARED_MAX_DISTINCT", 3)
    with CaptureQueriesContext(connection) as queries:
        report = run("enrollments", data, actor=staff["clerk"])
    assert report.ok and report.created == len(_rows(ids))
    assert not any(q["sql"].startswith("WITH v (i,") for q in queries.captured_queries)
    assert Enrollment.history.filter(history_type="+").count() == len(_rows(ids))


def _subsidised(shiyan, persons, years):
    from decimal import Decimal

    from members.models import BatchStatus, Identity, SubsidyBatch, SubsidyLine

    for year in years:
        batch = SubsidyBatch.objects.create(region=shiyan.county, year=year, status=BatchStatus.CONFIRMED)
        for p in persons:
            ident, _new = Identity.objects.get_or_create(person=p, kind="subsistence", valid_from=date(2024, 1, 1),
                                                         defaults={"source": "civil_affairs"})
            SubsidyLine.objects.create(batch=batch, person=p, year=year, township_id=p.township_id, identity=ident,
                                       kind="subsistence", premium=Decimal("400.00"), amount=Decimal("100.00"))


def test_whole_file_look_up_reads_what_the_batches_read(shiyan, staff, monkeypatch):
    """The file's look-up before the batches (``_look_up_file``) against ``prepare`` batch by
    batch: the same persons, enrolments, histories and subsidies (every person-year the file
    names) and the same rows written.  Batches of 100 rows, so that a person's second year falls in a later batch."""
    from members.importers import EnrollmentImporter
    from members.models import Person
    from yibao_site.imports import read_table

    ids = _ids(130)
    persons = [[idn, f"人{i}", shiyan.village(i % 2, 0).code, "", ""] for i, idn in enumerate(ids)]
    assert run("persons", csv_bytes(HEADER, persons), actor=staff["clerk"]).ok
    earlier = [[idn, 2024, "resident", "", "2023-11-15", "", "", ""] for idn in ids[:40]]
    assert run("enrollments", csv_bytes(_HEADER, earlier), actor=staff["clerk"]).ok
    _subsidised(shiyan, list(Person.objects.filter(id_number__in=ids[::3])), (2025, 2026))
    rows = [[idn, 2025, "resident", "", "2024-11-15", "", "", ""] for idn in ids[:120]]
    rows += [[idn, 2026, "resident", "", "2025-11-15", "", "", ""] for idn in ids[:120]]
    rows.append(["420302199001010000", 2025, "resident", "", "2024-11-15", "", "", ""])  # not registered
    data = csv_bytes(_HEADER, rows)
    monkeypatch.setattr(EnrollmentImporter, "batch_size", 100)

    def one(whole: bool):
        with monkeypatch.context() as m:
            if not whole:
                m.setattr(EnrollmentImporter, "_look_up_file", lambda self, rows, idns: None)
            importer = EnrollmentImporter()
            with transaction.atomic():
                report = importer.run(read_table(data, filename="x.csv"), actor=staff["clerk"])
                snap = _snapshot()
                transaction.set_rollback(True)
        held = (importer.persons, importer.existing, importer.active_other, importer.histories, importer.subsidies)
        return importer, report, snap, held

    batches, batch_report, batch_snap, batch_held = one(False)
    whole, report, snap, held = one(True)
    assert whole.whole_file and not batches.whole_file
    assert [str(e) for e in report.errors] == [str(e) for e in batch_report.errors] and len(report.errors) == 1
    assert held == batch_held
    assert any(year == 2026 for _pid, year in held[4]) and any(year == 2025 for _pid, year in held[4])
    assert snap == batch_snap  # (nothing written: a bad row)
    rows.pop()
    data = csv_bytes(_HEADER, rows)
    batches, batch_report, batch_snap, batch_held = one(False)
    whole, report, snap, held = one(True)
    assert report.ok and batch_report.ok and report.created == len(rows)
    assert held == batch_held and snap[0] == batch_snap[0] and snap[1] == batch_snap[1]
    assert any(r[_FIELDS.index("subsidy_amount")] for r in snap[0])


def test_look_up_statement_reads_what_the_orm_reads(shiyan, staff):
    """``_look_up_pg`` (one joined statement) against ``_look_up`` (the ORM queries)."""
    from members.importers import EnrollmentImporter

    ids = _ids(30)
    persons = [[idn, f"人{i}", shiyan.village(i % 2, 0).code, "", ""] for i, idn in enumerate(ids)]
    assert run("persons", csv_bytes(HEADER, persons), actor=staff["clerk"]).ok
    two = [[idn, 2024, "resident", "", "2023-11-15", "", "", ""] for idn in ids[:20]]
    two += [[idn, 2025, "employee", "in_service", "2025-01-10", "", "5000", ""] for idn in ids[10:20]]
    assert run("enrollments", csv_bytes(_HEADER, two), actor=staff["clerk"]).ok
    keys = set(ids) | {"420302199001010000", 'a"b\\c'}
    orm = EnrollmentImporter._look_up(keys)
    pg = EnrollmentImporter._look_up_pg(keys)
    assert sorted(orm[0]) == sorted(pg[0]) and len(pg[0]) == 30
    assert sorted(orm[1]) == sorted(pg[1]) and len(pg[1]) == 30
