"""Settlement throughput (一站式结算): batch, single, and the platform-file import path.

Rows: (1) ``claims_settle_batch`` of N claims for N/4 persons (chunks of 5 000 per
transaction: every tier, ledgers locked and bulk-updated, claims and their history
bulk-written); (2) ``claim_settle`` one claim per transaction, as the API does, for a sample;
(3) the ``claims`` importer on a CSV of N other claims (read, validate, settle in date order,
one transaction); the reference beside each is a bare ``Claim.objects.bulk_create`` of N
rows measured in the same run (no settlement, no history, no ledger).
Target (PERFORMANCE.md): ≥ 2 000 claims/s in a batch on PostgreSQL.
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


def run(ctx) -> list[dict]:
    from django.db import transaction

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

    # Reference: a bare bulk_create of N claim rows.
    specs = _claims(rng, persons, n)
    ref_objs = [Claim(person=p, year=YEAR, scheme="resident", visit_type=v, hospital_level=lvl, service_date=d,
                      total_cost=t, policy_scope_cost=s, out_of_pocket=t) for p, v, lvl, d, t, s in specs]
    started = time.perf_counter()
    with transaction.atomic():
        Claim.objects.bulk_create(ref_objs, batch_size=1000)
        transaction.set_rollback(True)
    ref_seconds = time.perf_counter() - started
    ref = f"bare bulk_create {n / ref_seconds:,.0f} rows/s"

    def record(job, seconds, count):
        rows.append({"job": job, "scale": count, "database": ctx.database_label, "seconds": round(seconds, 2),
                     "rows_per_s": round(count / seconds) if seconds else None, "reference": ref})
        log(f"  {job}: {count} claims in {seconds:.1f}s ({count / seconds:,.0f}/s)")

    # (1) batch settlement
    inputs = [services.ClaimInput(person_id=p.pk, visit_type=v, hospital_level=lvl, service_date=d, total_cost=t,
                                  policy_scope_cost=s) for p, v, lvl, d, t, s in specs]
    inputs.sort(key=lambda i: i.service_date)
    cache = SettlementPolicyCache()
    started = time.perf_counter()
    for k in range(0, len(inputs), CHUNK):
        services.claims_settle_batch(inputs=inputs[k:k + CHUNK], cache=cache, actor=system_actor("bench.settlement"))
    record("settlement batch", time.perf_counter() - started, n)

    # (2) one claim per transaction (the API's path)
    sample = _claims(rng, persons, min(SINGLE_SAMPLE, n))
    clerk, _created = User.objects.get_or_create(username="bench-clerk", defaults={"role": Role.WINDOW_CLERK})
    started = time.perf_counter()
    for p, v, lvl, d, t, s in sample:
        services.claim_settle(person=p, visit_type=v, hospital_level=lvl, service_date=d, total_cost=t,
                              policy_scope_cost=s, actor=clerk)
    record("settlement single", time.perf_counter() - started, len(sample))

    # (3) the platform file import (validate + settle, one transaction)
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
    record("settlement import (claims file)", time.perf_counter() - started, n)
    assert report.ok and report.created == n, report.summary()
    return rows
