"""Issue 14: a large import runs with Python's cyclic collector paused (``collector_paused``),
and the persons', enrolments' and identities' history rows carry ``history_user`` without a
database constraint.  Neither may change what an import writes or reports."""
import gc
from datetime import date, timedelta

from django.db import connection, transaction

from members import importers as member_importers
from members.models import Enrollment, Identity, Person
from yibao_site import imports
from yibao_site.testing import make_id_number

from .test_importers import HEADER, csv_bytes, run

N = 60  # rows a file; the pause threshold is set below or above it
_ENROL = ["person", "year", "scheme", "employee_status", "paid_on", "amount", "contribution_base", "via"]


def _threshold(monkeypatch, rows: int) -> None:
    monkeypatch.setattr(imports, "COLLECTOR_PAUSE_MIN", rows)
    monkeypatch.setattr(member_importers, "COLLECTOR_PAUSE_MIN", rows)


def _ids(n):
    births = [date(1950, 1, 1) + timedelta(days=97 * i) for i in range(n - 2)] + [date(2024, 11, 5), date(2024, 11, 10)]
    return [make_id_number("420302", b, 11, "M" if i % 2 else "F") for i, b in enumerate(births)]


def _files(shiyan):
    ids = _ids(N)
    persons = csv_bytes(HEADER, [[idn, f"人{i}", shiyan.village(i % 2, 0).code, "", f"H{i // 3}"]
                                 for i, idn in enumerate(ids)])
    enrol = []
    for i, idn in enumerate(ids):
        if i % 4 == 0:
            enrol.append([idn, 2025, "employee", "in_service", "2025-01-10", "", "5000", ""])
        elif i % 4 == 1:  # two years of one person: the second sees the first
            enrol.append([idn, 2024, "resident", "", "2023-12-01", "", "", ""])
            enrol.append([idn, 2025, "resident", "", "2025-02-10", "", "", "window"])
        else:
            enrol.append([idn, 2025, "resident", "", "2024-11-15", "", "", ""])
    kinds = ["subsistence", "marginal", "monitored"]
    idents = [[idn, kinds[i % 3], "2024-01-01", "" if i % 2 else "2025-12-31", "civil_affairs"]
              for i, idn in enumerate(ids)]
    return persons, csv_bytes(_ENROL, enrol), csv_bytes(["person", "kind", "valid_from", "valid_to", "source"], idents)


def _snapshot():
    """Every column of what the imports wrote, ids and timestamps as ranks and equalities."""
    skip = {"id", "created_at", "history_id", "history_date", "person_id"}

    def rows(model):
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in skip]
        return [(p_idn, *r) for p_idn, *r in model.objects.order_by("id").values_list(
            *(["person__id_number"] if model is not Person else ["id_number"]), *fields)]

    def history(model):
        fields = [f.attname for f in model.history.model._meta.concrete_fields if f.attname not in skip]
        return list(model.history.order_by("history_id").values_list(*fields))

    return [rows(Person), rows(Enrollment), rows(Identity),
            history(Person), history(Enrollment), history(Identity)]


def _import_all(files, actor):
    reports = []
    with transaction.atomic():
        for resource, data in zip(("persons", "enrollments", "identities"), files):
            report = run(resource, data, actor=actor)
            reports.append((report.ok, report.created, report.updated, report.unchanged,
                            [str(e) for e in report.errors]))
        snap = _snapshot()
        transaction.set_rollback(True)
    return reports, snap


def test_large_imports_write_the_same_with_the_collector_paused(shiyan, staff, monkeypatch):
    files = _files(shiyan)
    seen = []
    clean_row = member_importers.EnrollmentImporter.clean_row

    def spy(self, row):
        seen.append(gc.isenabled())
        return clean_row(self, row)

    monkeypatch.setattr(member_importers.EnrollmentImporter, "clean_row", spy)
    _threshold(monkeypatch, 10 ** 9)  # as before: never paused
    before = _import_all(files, staff["clerk"])
    assert seen and all(seen)
    seen.clear()
    _threshold(monkeypatch, N // 2)
    after = _import_all(files, staff["clerk"])
    assert seen and not any(seen)  # checked with the collector paused …
    assert gc.isenabled()  # … and it runs again afterwards
    assert before == after
    assert all(ok for ok, *_rest in after[0]) and after[1][1], after[0]


def test_a_bad_large_file_reports_the_same_rows_and_the_collector_runs_again(shiyan, staff, monkeypatch):
    _persons, enrol, _idents = _files(shiyan)
    run("persons", _persons, actor=staff["clerk"])
    lines = enrol.decode("utf-8-sig").splitlines()
    lines[5] = lines[5].replace("2025", "20x5", 1)
    lines[9] = lines[9].replace("-1", "-x", 1)  # a bad date
    bad = "\n".join(lines).encode()
    reports = []
    for threshold in (10 ** 9, N // 2):
        _threshold(monkeypatch, threshold)
        report = run("enrollments", bad, actor=staff["clerk"])
        reports.append([(e.row, e.field, e.message) for e in report.errors])
        assert gc.isenabled()
    assert reports[0] == reports[1] and {r for r, _f, _m in reports[0]} == {6, 10}
    assert not Enrollment.objects.exists()  # nothing written


def test_history_user_is_unchecked_by_the_database_but_indexed_and_set_null_on_delete(shiyan, staff):
    assert run("persons", _files(shiyan)[0], actor=staff["clerk"]).ok
    clerk = staff["clerk"]
    assert Person.history.filter(history_user=clerk).count() == N  # the audit page's filter
    for model in (Person, Enrollment, Identity):
        field = model.history.model._meta.get_field("history_user")
        assert field.db_constraint is False and field.db_index and field.remote_field.on_delete.__name__ == "SET_NULL"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = Person.history.model._meta.db_table
            constraints = connection.introspection.get_constraints(cursor, table)
        assert not any(c["foreign_key"] for c in constraints.values() if c["columns"] == ["history_user_id"])
        assert any(c["index"] for c in constraints.values() if c["columns"] == ["history_user_id"])
    pk = clerk.pk
    clerk.delete()  # Django applies SET_NULL itself
    assert not Person.history.filter(history_user_id=pk).exists()
    assert Person.history.filter(history_user__isnull=True).count() == N
