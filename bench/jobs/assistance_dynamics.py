"""Assistance objects: the monthly dynamics (added/removed by township) and today's object list
count, set-based in the database, vs. a reference that loads every identity and determination
into Python and computes the same sets (measured in the same run).

Data: N persons spread over the jurisdiction's villages; about a quarter hold an identity with a
category (some starting or ending this month), a tenth an approved determination entitlement.
"""
from __future__ import annotations

import time
from datetime import date, timedelta

DEFAULT_SCALE = 100_000
MONTH = (2025, 3)


def _build(ctx, n: int) -> None:
    from members.models import AssistanceEntitlement, Identity, Person
    from yibao_site.testing import make_id_number

    j = ctx.jurisdiction
    villages = [v for t in j.townships for v in j.villages[t.code]]
    start = date(1940, 1, 1)
    persons = []
    for i in range(n):
        k = i + 20_000_000
        birth = start + timedelta(days=k % 20000)
        village = villages[i % len(villages)]
        persons.append(Person(id_number=make_id_number(j.county.code, birth, k % 400 + 1, "M" if k % 2 else "F"),
                              name=f"救助基准{i}", sex="M" if k % 2 else "F", birth_date=birth, village=village,
                              township_id=village.parent_id))
    Person.objects.bulk_create(persons, batch_size=2000, ignore_conflicts=True)
    ids = list(Person.objects.filter(name__startswith="救助基准").values_list("id", flat=True))
    kinds = ["subsistence", "extreme_poverty", "marginal", "monitored", "orphan"]
    identities, entitlements = [], []
    for i, pid in enumerate(ids):
        if i % 4 == 0:
            valid_from = date(2025, 3, 1 + i % 28) if i % 40 == 0 else date(2023, 1, 1)
            valid_to = date(2025, 3, 1 + i % 28) if i % 44 == 0 else None
            identities.append(Identity(person_id=pid, kind=kinds[i % len(kinds)], valid_from=valid_from,
                                       valid_to=valid_to, source="civil_affairs"))
        if i % 10 == 3:
            entitlements.append(AssistanceEntitlement(person_id=pid, kind="determination", category=4,
                                                      valid_from=date(2024, 3, 1 + i % 28),
                                                      valid_to=date(2025, 3, 1 + i % 5)))
    Identity.objects.bulk_create(identities, batch_size=2000)
    AssistanceEntitlement.objects.bulk_create(entitlements, batch_size=2000)


def _reference(year: int, month: int, kinds: list[str]) -> tuple[int, int]:
    """Load every identity (of a kind with a category) and determination, compute added/removed in Python."""
    from yibao_site.dates import add_months
    from members.models import AssistanceEntitlement, Identity

    first = date(year, month, 1)
    last = add_months(first, 1) - timedelta(days=1)
    before = first - timedelta(days=1)
    now, then = set(), set()
    for pid, vf, vt in Identity.objects.filter(kind__in=kinds).values_list("person_id", "valid_from", "valid_to").iterator(chunk_size=5000):
        for day, bucket in ((last, now), (before, then)):
            if vf <= day and (vt is None or vt >= day):
                bucket.add(pid)
    for pid, vf, vt, rev in (AssistanceEntitlement.objects.filter(kind="determination")
                             .values_list("person_id", "valid_from", "valid_to", "revoked_on")
                             .iterator(chunk_size=5000)):
        for day, bucket in ((last, now), (before, then)):
            if vf <= day <= vt and (rev is None or rev > day):
                bucket.add(pid)
    return len(now - then), len(then - now)


def run(ctx) -> list[dict]:
    from django.db import connection

    from assistance import selectors
    from yibao_site.models import Role, User

    n = ctx.scale or DEFAULT_SCALE
    log = getattr(ctx, "log", print)
    _build(ctx, n)
    reviewer = User.objects.filter(username="bench_reviewer").first() or User.objects.create(
        username="bench_reviewer", role=Role.REVIEWER, is_staff=True)

    kinds = list(selectors.category_map(selectors.jurisdiction_snapshot(reviewer, date(*MONTH, 1))))
    started = time.perf_counter()
    ref_added, ref_removed = _reference(*MONTH, kinds)
    ref_seconds = time.perf_counter() - started
    ref = f"python sets {ref_seconds:.2f}s"

    rows = []

    def record(job, seconds):
        rows.append({"job": job, "scale": n, "database": ctx.database_label, "seconds": round(seconds, 2),
                     "rows_per_s": round(n / seconds) if seconds else None, "reference": ref})
        log(f"  {job}: {n} persons in {seconds:.2f}s")

    started = time.perf_counter()
    data = selectors.monthly_dynamics(reviewer, *MONTH)
    record("assistance monthly dynamics", time.perf_counter() - started)
    assert (data["added"], data["removed"]) == (ref_added, ref_removed), (data["added"], data["removed"],
                                                                          ref_added, ref_removed)

    started = time.perf_counter()
    count = selectors.assistance_objects(reviewer, date(*MONTH, 15)).count()
    record("assistance objects count", time.perf_counter() - started)
    assert count > 0
    connection.close()
    return rows
