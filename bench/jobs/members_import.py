"""Validated imports of persons, enrolments and identities next to their references, all
measured in the same run (PERFORMANCE.md):

* ``COPY`` of the very same persons CSV into a table with a primary key (PostgreSQL's own
  loader, the physical limit; ``psql \\copy`` does the same) — target: the validated persons
  import ≤ 8× its time;
* a bare ``Person.objects.bulk_create(batch_size=1000)`` of N other persons (no validation, no
  history) — targets: persons ≥ 1.5× its rows/s, enrolments and identities ≥ 1×.

Rows: (1) first import of N persons from a CSV (read, validate every ID and village, write rows
and history); (2) the same file again (every row found unchanged: nothing written); (3) an
enrolments file for those persons (policy, continuity, waiting period, caps); (4) an
identities file for them (kinds, periods, overlaps).  Times include reading the file.
"""
from __future__ import annotations

import csv
import io
import time
from datetime import date, timedelta

DEFAULT_SCALE = 100_000


def _ids(county: str, n: int, offset: int) -> list[tuple[str, date, str]]:
    from yibao_site.testing import make_id_number

    out = []
    start = date(1950, 1, 1)
    for i in range(n):
        k = i + offset
        birth = start + timedelta(days=k // 400)
        seq = k % 400 + 1
        out.append((make_id_number(county, birth, seq, "M" if k % 2 else "F"), birth, "M" if k % 2 else "F"))
    return out


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` to two figures, or "—" when either is missing or zero (never divide by zero)."""
    if not a or not b:
        return "—"
    return f"{a / b:.2f}"


def copy_reference(data: bytes) -> float | None:
    """Seconds for PostgreSQL's ``COPY … FROM STDIN (FORMAT csv, HEADER)`` of ``data`` into a
    fresh table with a primary key (what ``psql \\copy`` does); ``None`` off PostgreSQL."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_persons")
        cursor.execute("CREATE TABLE bench_copy_persons (id_number varchar(18) PRIMARY KEY, name varchar(50), "
                       "village varchar(12), phone varchar(20), household_no varchar(30))")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.cursor.copy("COPY bench_copy_persons FROM STDIN (FORMAT csv, HEADER true)") as copy:
            view = memoryview(data)
            for lo in range(0, len(view), 1 << 20):
                copy.write(view[lo:lo + (1 << 20)])
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy_persons")
    return seconds


def index_count(table: str) -> int | None:
    """How many indexes PostgreSQL keeps up on ``table`` (primary key and unique ones included)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
                       [table])
        return cursor.fetchone()[0]


def run(ctx) -> list[dict]:
    from django.db import connection

    from members.models import Enrollment, Identity, Person
    from yibao_site.imports import importer_for, read_table

    n = ctx.scale or DEFAULT_SCALE
    j = ctx.jurisdiction
    villages = [v for t in j.townships for v in j.villages[t.code]]
    county = j.county.code
    log = getattr(ctx, "log", print)

    people = _ids(county, n, 0)
    data = _csv(["id_number", "name", "village", "phone", "household_no"],
                [[idn, f"人员{i}", villages[i % len(villages)].code, "", f"H{i // 4:07d}"]
                 for i, (idn, _b, _s) in enumerate(people)])

    timings: dict[str, float] = {}

    def timed(key, fn):
        started = time.perf_counter()
        result = fn()
        timings[key] = time.perf_counter() - started
        log(f"  {key}: {n} rows in {timings[key]:.2f}s")
        return result

    copy_seconds = timed("copy", lambda: copy_reference(data)) if connection.vendor == "postgresql" else None
    # The file door ``import_data`` and the background jobs take (``run_file``): on PostgreSQL a
    # plain CSV of new persons is checked and written by the server itself.
    report = timed("persons", lambda: importer_for("persons")().run_file(data, "persons.csv"))
    assert report.ok and report.created == n, report.summary()
    report = timed("persons_again", lambda: importer_for("persons")().run_file(data, "persons.csv"))
    assert report.ok and report.unchanged == n, report.summary()

    enrol = _csv(["person", "year", "scheme", "paid_on"],
                 [[idn, "2025", "resident", "2024-11-15"] for idn, _b, _s in people])
    report = timed("enrollments", lambda: importer_for("enrollments")().run(read_table(enrol, filename="e.csv")))
    assert report.ok and report.created == n, report.summary()
    assert Enrollment.objects.filter(year=2025).count() == n

    kinds = ["subsistence", "marginal", "monitored", "extreme_poverty", "stable_escaped"]
    idents = _csv(["person", "kind", "valid_from", "valid_to", "source"],
                  [[idn, kinds[i % len(kinds)], "2024-01-01", "", "civil_affairs"]
                   for i, (idn, _b, _s) in enumerate(people)])
    report = timed("identities", lambda: importer_for("identities")().run(read_table(idents, filename="i.csv")))
    assert report.ok and report.created == n, report.summary()
    assert Identity.objects.count() >= n

    # Reference, measured last in the same run: a bare bulk_create of N other persons
    # (no validation, no history).  Left in place: the bench database is thrown away.
    others = _ids(county, n, 10_000_000)
    objs = [Person(id_number=idn, name=f"对照{i}", sex=sex, birth_date=birth, village=villages[i % len(villages)],
                   township_id=villages[i % len(villages)].parent_id)
            for i, (idn, birth, sex) in enumerate(others)]
    timed("bulk_create", lambda: Person.objects.bulk_create(objs, batch_size=1000))
    connection.close()

    bulk = timings["bulk_create"]
    person_indexes = index_count(Person._meta.db_table)
    history_indexes = index_count(Person.history.model._meta.db_table)
    copy_text = (f"COPY of the same CSV into a table with a primary key (1 index) {copy_seconds:.2f}s; the import "
                 f"keeps up {person_indexes} indexes on the persons and {history_indexes} on their history"
                 if copy_seconds else "COPY: PostgreSQL only")

    def row(job, key, reference, target, ratio_text=""):
        seconds = timings[key]
        return {"job": job, "scale": n, "database": ctx.database_label, "seconds": round(seconds, 2),
                "rows_per_s": round(n / seconds) if seconds else None, "reference": reference,
                "ratio": ratio_text, "target": target}

    speed = lambda key: ratio(bulk, timings[key])  # (n / t) / (n / bulk) = bulk / t  # noqa: E731
    return [
        row("import persons (new)", "persons",
            f"{copy_text}; run = {ratio(timings['persons'], copy_seconds)}× COPY; "
            f"bulk_create {n / bulk:,.0f}/s, run = {speed('persons')}× it", "≤ 8× COPY; ≥ 1.5× bulk_create",
            f"{ratio(timings['persons'], copy_seconds)}× COPY time; {speed('persons')}× bulk_create rows/s"),
        row("import persons (same file again, unchanged)", "persons_again",
            f"run = {speed('persons_again')}× bulk_create", "—", f"{speed('persons_again')}× bulk_create"),
        row("import enrollments (new)", "enrollments", f"run = {speed('enrollments')}× bulk_create",
            "≥ 1× bulk_create", f"{speed('enrollments')}× bulk_create"),
        row("import identities (new)", "identities", f"run = {speed('identities')}× bulk_create",
            "≥ 1× bulk_create", f"{speed('identities')}× bulk_create"),
        row("reference: COPY of the persons CSV (table with a primary key)", "copy", "physical limit", "")
        if copy_seconds else {"job": "reference: COPY", "reference": "PostgreSQL only"},
        row("reference: Person.bulk_create(batch_size=1000), no validation, no history", "bulk_create", "", ""),
    ]
