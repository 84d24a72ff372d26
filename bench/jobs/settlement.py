"""Settlement throughput (一站式结算): batch, single, and the platform-file import path.

Measured in the SAME run, for N claims of N/4 persons: (ref) a bare ``Claim.objects.bulk_create``
of the N claim rows (no settlement, history or ledger) and, on PostgreSQL, a ``COPY`` of the
same rows (the physical limit); (1) ``claims_settle_batch`` in chunks of 5 000 per transaction
(every tier, ledgers locked by key and written with one ``UPDATE … FROM unnest``, claims and
their history by ``COPY``); (2) ``claim_settle`` one claim per transaction, as the API does, for
a sample, with the statements a claim; (3) the ``claims`` importer on a CSV of N other claims
(read, validate, settle in date order, one transaction).  Each row carries ``ratio`` (batch ÷
bulk_create, import ÷ batch, statements a claim) and ``target`` (PERFORMANCE.md: batch ≥ 2×
bulk_create and ≤ 30× COPY; import ≥ 0.8× the batch; ≤ 6 statements a claim); ratios never
divide by a zero time.
"""
from __future__ import annotations

import csv
import io
import random
import time
from datetime import date, timedelta
from decimal import Decimal

DEFAULT_SCALE = 100_000
CHUNK = 5_000
SINGLE_SAMPLE = 500
YEAR = 2024


def _persons(j, n: int, offset: int):
    """Bulk-create ``n`` persons with a resident enrolment for YEAR (10 % with 低保)."""
    from members.models import Enrollment, Identity, Person
    from yibao_site.testing import make_id_number

    villages = [v for t in j.townships for v in j.villages[t.code]]
    people = []
    for i in range(n):
        k = i + offset
        birth = date(1940, 1, 1) + timedelta(days=k // 400)
        village = villages[k % len(villages)]
        people.append(Person(id_number=make_id_number(j.county.code, birth, k % 400 + 1), name=f"压测{k}",
                             sex="M", birth_date=birth, village=village, township_id=village.parent_id))
    Person.objects.bulk_create(people, batch_size=2000)
    people = list(Person.objects.filter(name__startswith="压测").order_by("id"))[-n:]
    Enrollment.objects.bulk_create([
        Enrollment(person=p, year=YEAR, scheme="resident", paid_on=date(YEAR - 1, 10, 1), amount=Decimal("380"),
                   benefit_start=date(YEAR, 1, 1), benefit_end=date(YEAR, 12, 31), critical_illness_cap=None)
        for p in people], batch_size=2000)
    Identity.objects.bulk_create([
        Identity(person=p, kind="subsistence", valid_from=date(YEAR - 1, 1, 1), source="civil_affairs")
        for p in people[::10]], batch_size=2000)
    return people


def _claims(rng: random.Random, persons, n: int):
    out = []
    for i in range(n):
        visit = rng.choices(["outpatient", "chronic", "inpatient"], weights=[55, 20, 25])[0]
        if visit == "outpatient":
            total = Decimal(rng.randint(5_000, 60_000)) / 100
        elif visit == "chronic":
            total = Decimal(rng.randint(50_000, 800_000)) / 100
        else:
            total = Decimal(rng.randint(300_000, 8_000_000)) / 100
        scope = (total * Decimal(rng.randint(75, 95)) / 100).quantize(Decimal("0.01"))
        out.append((persons[i % len(persons)], visit, rng.choice((1, 1, 2, 2, 3)),
                    date(YEAR, 1, 1) + timedelta(days=rng.randint(0, 364)), total, scope))
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero (never divides by zero)."""
    return round(a / b, 2) if a and b else None


def _copy_text(objs) -> tuple[list[str], str]:
    """The claim rows as a tab-separated COPY stream (every column but ``id``)."""
    from django.db import connection

    from claims.models import Claim

    fields = [f for f in Claim._meta.concrete_fields if not f.primary_key]
    out = io.StringIO()
    now = "2024-12-31 00:00:00+00"
    for obj in objs:
        cells = []
        for f in fields:
            if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
                cells.append(now)
                continue
            value = getattr(obj, f.attname)
            if f.get_internal_type() == "JSONField":
                import json

                value = json.dumps(value)
            if value is None:
                cells.append("\\N")
            elif isinstance(value, bool):
                cells.append("t" if value else "f")
            else:
                cells.append(str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n"))
        out.write("\t".join(cells) + "\n")
    return [connection.ops.quote_name(f.column) for f in fields], out.getvalue()


def run(ctx) -> list[dict]:
    from django.db import connection, transaction

    from claims import services
    from claims.models import Claim
    from yibao_site.imports import importer_for, read_table
    from claims.selectors import SettlementPolicyCache
    from yibao_site.actors import system_actor
    from yibao_site.models import Role, User

    n = ctx.scale or DEFAULT_SCALE
    log = getattr(ctx, "log", print)
    rng = random.Random(2026)
    j = ctx.jurisdiction
    persons = _persons(j, max(n // 4, 1), 0)
    rows = []

    # Reference 1: a bare bulk_create of N claim rows (no settlement, history or ledger).
    specs = _claims(rng, persons, n)
    ref_objs = [Claim(person=p, year=YEAR, scheme="resident", visit_type=v, hospital_level=lvl, service_date=d,
                      total_cost=t, policy_scope_cost=s, out_of_pocket=t) for p, v, lvl, d, t, s in specs]
    started = time.perf_counter()
    with transaction.atomic():
        Claim.objects.bulk_create(ref_objs, batch_size=1000)
        transaction.set_rollback(True)
    bulk_seconds = time.perf_counter() - started
    # Reference 2 (PostgreSQL): a COPY of the same claim rows — the physical limit.
    copy_seconds = None
    if connection.vendor == "postgresql":
        columns, text = _copy_text(ref_objs)
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {connection.ops.quote_name(Claim._meta.db_table)} "
                                    f"({', '.join(columns)}) FROM STDIN") as copy:
                copy.write(text)
            transaction.set_rollback(True)
        copy_seconds = time.perf_counter() - started
    bulk_rate = n / bulk_seconds if bulk_seconds else None
    ref = f"bare bulk_create {bulk_rate:,.0f} rows/s ({bulk_seconds:.2f}s)" if bulk_rate else "bare bulk_create ?"
    if copy_seconds:
        ref += f"; COPY {copy_seconds:.2f}s ({n / copy_seconds:,.0f} rows/s)"
    rows.append({"job": "reference: bare bulk_create of claim rows", "scale": n, "database": ctx.database_label,
                 "seconds": round(bulk_seconds, 2), "rows_per_s": round(bulk_rate) if bulk_rate else None,
                 "reference": "no settlement, no history, no ledger", "target": "", "ratio": None})
    if copy_seconds:
        rows.append({"job": "reference: COPY of the same claim rows", "scale": n, "database": ctx.database_label,
                     "seconds": round(copy_seconds, 2), "rows_per_s": round(n / copy_seconds),
                     "reference": "the physical limit", "target": "", "ratio": None})
    log(f"  {ref}")

    def record(job, seconds, count, *, reference=ref, target="", ratio=None):
        rate = count / seconds if seconds else None
        rows.append({"job": job, "scale": count, "database": ctx.database_label, "seconds": round(seconds, 2),
                     "rows_per_s": round(rate) if rate else None, "reference": reference, "target": target,
                     "ratio": ratio})
        log(f"  {job}: {count} claims in {seconds:.1f}s ({rate or 0:,.0f}/s)  {reference}")
        return rate

    # (1) batch settlement
    inputs = [services.ClaimInput(person_id=p.pk, visit_type=v, hospital_level=lvl, service_date=d, total_cost=t,
                                  policy_scope_cost=s) for p, v, lvl, d, t, s in specs]
    inputs.sort(key=lambda i: i.service_date)
    cache = SettlementPolicyCache()
    started = time.perf_counter()
    for k in range(0, len(inputs), CHUNK):
        services.claims_settle_batch(inputs=inputs[k:k + CHUNK], cache=cache, actor=system_actor("bench.settlement"))
    batch_seconds = time.perf_counter() - started
    batch_rate = n / batch_seconds if batch_seconds else None
    vs_bulk = _ratio(batch_rate, bulk_rate)
    vs_copy = _ratio(batch_seconds, copy_seconds)
    text = f"{vs_bulk}× bare bulk_create" + (f"; {vs_copy}× the COPY time" if vs_copy else "")
    record("settlement batch", batch_seconds, n, reference=f"{ref}; batch = {text}",
           target="≥ 2× bulk_create; ≤ 30× COPY", ratio=vs_bulk)

    # (2) one claim per transaction (the API's path)
    # A plain claim each: the persons' ledgers exist (the batch above), the service date is the
    # year's last day (never before a claim in force: no late-claim re-settlement), and the
    # person comes with its township as the API's serializer reads it.
    from members.models import Person

    with_township = {p.pk: p for p in Person.objects.select_related("township")
                     .filter(pk__in=[p.pk for p in persons[:SINGLE_SAMPLE]])}
    sample = [(with_township[p.pk], v, lvl, date(YEAR, 12, 31), t, s)
              for p, v, lvl, _d, t, s in _claims(rng, persons, min(SINGLE_SAMPLE, n))]
    clerk, _created = User.objects.get_or_create(username="bench-clerk", defaults={"role": Role.WINDOW_CLERK})
    from django.test.utils import CaptureQueriesContext

    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        for p, v, lvl, d, t, s in sample:
            services.claim_settle(person=p, visit_type=v, hospital_level=lvl, service_date=d, total_cost=t,
                                  policy_scope_cost=s, actor=clerk)
    single_seconds = time.perf_counter() - started
    per_claim = len(queries.captured_queries) / len(sample) if sample else 0
    record("settlement single", single_seconds, len(sample),
           reference=f"{per_claim:.1f} statements a claim (service call; a plain claim on an existing ledger)",
           target="≤ 6 statements a claim (API)", ratio=round(per_claim, 1))

    # (3) the platform file import (read, validate, settle in date order, one transaction)
    other = _persons(j, max(n // 4, 1), 5_000_000)
    specs = _claims(rng, other, n)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["person", "visit_type", "hospital_level", "service_date", "total_cost", "policy_scope_cost",
                     "basic_paid", "external_ref"])
    for i, (p, v, lvl, d, t, s) in enumerate(specs):
        writer.writerow([p.id_number, v, lvl, d.isoformat(), t, s, "", f"BENCH-{i}"])
    data = buf.getvalue().encode("utf-8")
    started = time.perf_counter()
    report = importer_for("claims")().run(read_table(data, filename="claims.csv"))
    import_seconds = time.perf_counter() - started
    import_rate = n / import_seconds if import_seconds else None
    vs_batch = _ratio(import_rate, batch_rate)
    record("settlement import (claims file)", import_seconds, n,
           reference=f"batch {batch_rate or 0:,.0f}/s; import = {vs_batch}× the batch"
           + (f"; {_ratio(import_seconds, copy_seconds)}× the COPY time" if copy_seconds else ""),
           target="≥ 0.8× the batch", ratio=vs_batch)
    assert report.ok and report.created == n, report.summary()
    return rows
