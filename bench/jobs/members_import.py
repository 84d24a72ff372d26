"""Validated imports of persons, enrolments and identities next to their references, all
measured in the same run (PERFORMANCE.md):

* ``COPY`` of the very same persons CSV into a table with a primary key (PostgreSQL's own
  loader, the physical limit; ``psql \\copy`` does the same) — target: the validated persons
  import ≤ 8× its time;
* ``COPY`` of the same persons, every column as the import writes them, into a copy of the REAL
  persons table (``LIKE members_person INCLUDING ALL``: every index, check and default, and the
  same two deferred foreign keys) and of their ``+`` history rows into a copy of the real history
  table, committed — what the schema itself costs (index and history upkeep, foreign-key checks,
  WAL): the physical limit of any import into it;
* a bare ``Person.objects.bulk_create(batch_size=1000)`` of N other persons (no validation, no
  history), once before the imports and once after them, the mean used — targets: persons
  ≥ 1.5× its rows/s, enrolments and identities ≥ 1×.  The plain ``COPY`` is also run twice
  (mean used); both spreads are printed.

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


def schema_copy_reference(people, villages) -> dict | None:
    """Seconds for ``COPY`` of ``people`` — each row with every column the import writes, the
    village's township, one timestamp — into a fresh copy of the real persons table (every index
    and constraint: ``LIKE … INCLUDING ALL`` plus the real table's foreign keys, deferred as
    Django makes them) and of one ``+`` history row each into a copy of the real history table,
    in one committed transaction (the foreign keys are checked at commit, as the import's are).
    The rows are rendered before the clock starts.  ``None`` off PostgreSQL.  Also gives the
    time into the person copy alone and into a copy with its primary key only."""
    from django.db import connection, transaction
    from django.utils import timezone

    from members.models import Person

    if connection.vendor != "postgresql":
        return None
    qn = connection.ops.quote_name
    meta, history_meta = Person._meta, Person.history.model._meta
    now = timezone.now().isoformat()
    person_columns = [f.column for f in meta.concrete_fields]
    history_columns = [f.column for f in history_meta.concrete_fields if f.attname != "history_id"]
    reason = "导入参保人员"

    def text(i, idn, birth, sex):
        v = villages[i % len(villages)]
        values = {"id": str(i + 1), "id_number": idn, "name": f"人员{i}", "sex": sex, "birth_date": birth.isoformat(),
                  "village_id": str(v.pk), "township_id": str(v.parent_id), "phone": "", "household_no": f"H{i // 4:07d}",
                  "id_outside_county": "f", "created_at": now, "history_date": now, "history_change_reason": reason,
                  "history_type": "+", "history_user_id": "\\N"}
        return values

    rows = [text(i, idn, birth, sex) for i, (idn, birth, sex) in enumerate(people)]
    persons = "".join("\t".join(r[c] for c in person_columns) + "\n" for r in rows).encode()
    history = "".join("\t".join(r[c] for c in history_columns) + "\n" for r in rows).encode()
    fks = [(f.column, f.related_model._meta.db_table, f.target_field.column) for f in meta.concrete_fields
           if f.is_relation]

    def create(person_table, history_table, *, indexes=True):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {person_table}, {history_table}")
            if indexes:
                cursor.execute(f"CREATE TABLE {person_table} (LIKE {qn(meta.db_table)} INCLUDING ALL)")
                for column, table, target in fks:
                    cursor.execute(f"ALTER TABLE {person_table} ADD FOREIGN KEY ({qn(column)}) REFERENCES "
                                   f"{qn(table)} ({qn(target)}) DEFERRABLE INITIALLY DEFERRED")
            else:
                cursor.execute(f"CREATE TABLE {person_table} (LIKE {qn(meta.db_table)} INCLUDING DEFAULTS)")
                cursor.execute(f"ALTER TABLE {person_table} ADD PRIMARY KEY ({qn(meta.pk.column)})")
            cursor.execute(f"CREATE TABLE {history_table} (LIKE {qn(history_meta.db_table)} INCLUDING ALL)")

    def load(person_table, history_table, *, with_history=True):
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            for table, columns, data in ([(person_table, person_columns, persons)]
                                         + ([(history_table, history_columns, history)] if with_history else [])):
                with cursor.cursor.copy(f"COPY {table} ({', '.join(qn(c) for c in columns)}) FROM STDIN") as copy:
                    view = memoryview(data)
                    for lo in range(0, len(view), 1 << 20):
                        copy.write(view[lo:lo + (1 << 20)])
        return time.perf_counter() - started

    out = {}
    try:
        create("bench_ref_person", "bench_ref_history")
        out["schema"] = load("bench_ref_person", "bench_ref_history")
        create("bench_ref_person", "bench_ref_history")
        out["person_indexes"] = load("bench_ref_person", "bench_ref_history", with_history=False)
        create("bench_ref_person", "bench_ref_history", indexes=False)
        out["person_pk"] = load("bench_ref_person", "bench_ref_history", with_history=False)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_ref_person, bench_ref_history")
    return out


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

    def bulk_create_reference(key, offset):
        """A bare bulk_create of N other persons (no validation, no history), the instances built
        before the clock.  Measured twice — before the imports and after them — so that a load
        change during the run shows as a spread, and the ratios use the mean of the two (each
        run's table then holds N persons more than the one before it; the imports meet the
        first N)."""
        others = _ids(county, n, offset)
        objs = [Person(id_number=idn, name=f"对照{i}", sex=sex, birth_date=birth,
                       village=villages[i % len(villages)], township_id=villages[i % len(villages)].parent_id)
                for i, (idn, birth, sex) in enumerate(others)]
        timed(key, lambda: Person.objects.bulk_create(objs, batch_size=1000))

    copy_seconds = timed("copy_1", lambda: copy_reference(data)) if connection.vendor == "postgresql" else None
    if copy_seconds:
        copy_seconds = timings["copy"] = (copy_seconds + timed("copy_2", lambda: copy_reference(data))) / 2
    schema = schema_copy_reference(people, villages)
    bulk_create_reference("bulk_create_1", 10_000_000)
    if schema:
        timings.update({f"schema_{k}": v for k, v in schema.items()})
        log(f"  COPY into the real schema: {schema['schema']:.2f}s with history, persons alone "
            f"{schema['person_indexes']:.2f}s, persons into a primary-key-only copy {schema['person_pk']:.2f}s")
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

    # The reference again, measured last (left in place: the bench database is thrown away).
    bulk_create_reference("bulk_create_2", 20_000_000)
    connection.close()

    bulk = timings["bulk_create"] = (timings["bulk_create_1"] + timings["bulk_create_2"]) / 2
    spread = (f"bulk_create {timings['bulk_create_1']:.2f}s before the imports, {timings['bulk_create_2']:.2f}s after "
              f"(spread {abs(timings['bulk_create_1'] - timings['bulk_create_2']) / bulk:.0%} of the mean)")
    if copy_seconds:
        spread += f"; plain COPY {timings['copy_1']:.2f}s and {timings['copy_2']:.2f}s"
    log(f"  references: {spread}")
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
    schema_seconds = timings.get("schema_schema")
    schema_text = (f"; COPY of the same rows and their history into copies of the real tables (all indexes, "
                   f"foreign keys) {schema_seconds:.2f}s, run = {ratio(timings['persons'], schema_seconds)}× it"
                   if schema_seconds else "")
    return [
        row("import persons (new)", "persons",
            f"{copy_text}; run = {ratio(timings['persons'], copy_seconds)}× COPY{schema_text}; "
            f"bulk_create {n / bulk:,.0f}/s, run = {speed('persons')}× it", "≤ 8× COPY; ≥ 1.5× bulk_create",
            f"{ratio(timings['persons'], copy_seconds)}× COPY time; "
            + (f"{ratio(timings['persons'], schema_seconds)}× schema COPY; " if schema_seconds else "")
            + f"{speed('persons')}× bulk_create rows/s"),
        row("import persons (same file again, unchanged)", "persons_again",
            f"run = {speed('persons_again')}× bulk_create", "—", f"{speed('persons_again')}× bulk_create"),
        row("import enrollments (new)", "enrollments", f"run = {speed('enrollments')}× bulk_create",
            "≥ 1× bulk_create", f"{speed('enrollments')}× bulk_create"),
        row("import identities (new)", "identities", f"run = {speed('identities')}× bulk_create",
            "≥ 1× bulk_create", f"{speed('identities')}× bulk_create"),
        row("reference: COPY of the persons CSV (table with a primary key)", "copy", "physical limit", "")
        if copy_seconds else {"job": "reference: COPY", "reference": "PostgreSQL only"},
        *([row("reference: COPY of the same rows + history into copies of the real tables (all indexes, FKs)",
               "schema_schema", f"{ratio(schema_seconds, copy_seconds)}× the plain COPY: the schema's own cost", ""),
           row("reference: COPY of the same rows into a copy of the real persons table (no history)",
               "schema_person_indexes", "", ""),
           row("reference: COPY of the same rows into a copy of the persons table, primary key only",
               "schema_person_pk", "every column, no other index, no FK", "")] if schema_seconds else []),
        row("reference: Person.bulk_create(batch_size=1000), no validation, no history (mean of two)",
            "bulk_create", spread, ""),
    ]
