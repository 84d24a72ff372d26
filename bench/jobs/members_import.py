"""Validated import of persons (members importer) vs. a bare ``bulk_create`` of the same rows.

Rows: (1) first import of N persons from a CSV (read, validate every ID and village, bulk write
with history); (2) the same file again (every row found unchanged: nothing written); (3) an
enrolments file for those persons (policy, continuity, caps); the reference beside each is a
plain ``Person.objects.bulk_create(batch_size=1000)`` of N other persons measured last in the
same run (no validation, no history) — PERFORMANCE.md's "≈ 20 000–25 000 rows/s" figure.
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


def run(ctx) -> list[dict]:
    from django.db import connection

    from members.models import Enrollment, Person
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

    rows = []
    ref = "bulk_create: see last row"

    def record(job, seconds, count):
        rows.append({"job": job, "scale": count, "database": ctx.database_label, "seconds": round(seconds, 2),
                     "rows_per_s": round(count / seconds) if seconds else None, "reference": ref})
        log(f"  {job}: {count} rows in {seconds:.1f}s")

    started = time.perf_counter()
    report = importer_for("persons")().run(read_table(data, filename="persons.csv"))
    record("members_import persons (new)", time.perf_counter() - started, n)
    assert report.ok and report.created == n, report.summary()

    started = time.perf_counter()
    report = importer_for("persons")().run(read_table(data, filename="persons.csv"))
    record("members_import persons (again, unchanged)", time.perf_counter() - started, n)
    assert report.ok and report.unchanged == n, report.summary()

    enrol = _csv(["person", "year", "scheme", "paid_on"],
                 [[idn, "2025", "resident", "2024-11-15"] for idn, _b, _s in people])
    started = time.perf_counter()
    report = importer_for("enrollments")().run(read_table(enrol, filename="enrollments.csv"))
    record("members_import enrollments (new)", time.perf_counter() - started, n)
    assert report.ok and report.created == n, report.summary()
    assert Enrollment.objects.filter(year=2025).count() == n

    # Reference, measured last in the same run: a bare bulk_create of N other persons
    # (no validation, no history).  Left in place: the bench database is thrown away.
    others = _ids(county, n, 10_000_000)
    objs = [Person(id_number=idn, name=f"对照{i}", sex=sex, birth_date=birth, village=villages[i % len(villages)],
                   township_id=villages[i % len(villages)].parent_id)
            for i, (idn, birth, sex) in enumerate(others)]
    started = time.perf_counter()
    Person.objects.bulk_create(objs, batch_size=1000)
    ref_seconds = time.perf_counter() - started
    ref = f"bulk_create {n / ref_seconds:,.0f} rows/s"
    for row in rows:
        row["reference"] = ref
    record("reference: Person.bulk_create (no validation, no history)", ref_seconds, n)
    connection.close()
    return rows
