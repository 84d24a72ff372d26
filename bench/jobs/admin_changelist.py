"""The persons admin change list at city scale (PERFORMANCE.md: p95 ≤ 300 ms at 1 M persons,
no full ``COUNT(*)`` per page, an index for every filter).

N persons (default 1 M on PostgreSQL, 20 000 on SQLite) are written with ``COPY`` (bench data:
no history), ~8 % holding a subsistence identity; then the change list is fetched in-process
(Django's test client, logged in as a supervisor and as a window clerk bound to one township —
township agents never enter the admin (they are sent to the login page); their own person search,
``/agent/persons/?q=``, is measured instead) — the first page,
deep pages, each filter and both searches — 20 times each, and the p95 reported per kind.
The reference is the same page of a 50-row list: a bare ``SELECT … ORDER BY id LIMIT 50``.
"""
from __future__ import annotations

import statistics
import time
from datetime import date, timedelta

from bench.jobs.warning import CHUNK, _write

DEFAULT_SCALE = {"postgresql": 1_000_000, "sqlite": 20_000}
ID_COUNTY = "420304"
REPEAT = 20


def _p95(samples: list[float]) -> float:
    samples = sorted(samples)
    return samples[max(0, int(len(samples) * 0.95) - 1)] * 1000


def run(ctx) -> list[dict]:
    from django.db import connection
    from django.test import Client

    from members.models import Identity, Person
    from yibao_site.services import staff_save
    from yibao_site.testing import make_id_number

    n = ctx.scale or DEFAULT_SCALE.get(ctx.database_label, 20_000)
    log = getattr(ctx, "log", print)
    j = ctx.jurisdiction
    villages = [v for t in j.townships for v in j.villages[t.code]]
    started = time.perf_counter()
    start = date(1940, 1, 1)
    for lo in range(0, n, CHUNK):
        _write(Person, [{"id_number": make_id_number(ID_COUNTY, start + timedelta(days=i % 20_000), i // 20_000 + 1,
                                                     "M" if i % 2 else "F"),
                         "name": f"列表{i}", "sex": "M" if i % 2 else "F", "birth_date": start + timedelta(days=i % 20_000),
                         "village_id": villages[i % len(villages)].pk, "township_id": villages[i % len(villages)].parent_id,
                         "id_outside_county": i % 50 == 0, "household_no": f"L{i // 4:08d}"}
                        for i in range(lo, min(n, lo + CHUNK))])
    first = Person.objects.filter(name="列表0").values_list("pk", flat=True).first()
    for lo in range(0, n, CHUNK * 4):
        _write(Identity, [{"person_id": first + i, "kind": "subsistence", "valid_from": date(2024, 1, 1),
                           "valid_to": None, "source": "civil_affairs"}
                          for i in range(lo, min(n, lo + CHUNK * 4)) if i % 12 == 0])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    log(f"  {n} persons written in {time.perf_counter() - started:.1f}s")

    staff_save(username="bench_list_super", role="supervisor", password="bench-pass-2026")
    staff_save(username="bench_list_town", role="window_clerk", township_code=j.townships[0].code,
               password="bench-pass-2026")
    staff_save(username="bench_list_agent", role="township_agent", township_code=j.townships[0].code,
               password="bench-pass-2026")
    from yibao_site.models import User

    town = j.townships[2].code
    pages = {
        "first page": "/admin/members/person/",
        "a deep page": f"/admin/members/person/?p={max(1, min(200, n // 50))}",
        "filter township": f"/admin/members/person/?township={town}",
        "filter sex": "/admin/members/person/?sex__exact=F",
        "filter outside county": "/admin/members/person/?id_outside_county__exact=1",
        "filter identity": "/admin/members/person/?identity=subsistence",
        "search name": "/admin/members/person/?q=%E5%88%97%E8%A1%A8123",
        "search ID prefix": f"/admin/members/person/?q={ID_COUNTY}1975",
    }
    rows, all_samples = [], []
    agent_pages = {"search name": "/agent/persons/?q=%E5%88%97%E8%A1%A8123",
                   "search ID prefix": f"/agent/persons/?q={ID_COUNTY}1975"}
    whose = {"bench_list_super": "supervisor", "bench_list_town": "clerk bound to a township",
             "bench_list_agent": "township agent, /agent/persons/"}
    for who in whose:
        client = Client()
        client.force_login(User.objects.get(username=who))
        for label, url in (agent_pages if who == "bench_list_agent" else pages).items():
            if who == "bench_list_town" and label in ("filter township", "a deep page"):
                continue
            statuses = {client.get(url).status_code}
            samples = []
            for _ in range(REPEAT):
                t0 = time.perf_counter()
                statuses.add(client.get(url).status_code)
                samples.append(time.perf_counter() - t0)
            if statuses != {200}:
                log(f"  {url}: HTTP {sorted(statuses)}")
            all_samples.extend(samples)
            rows.append({"job": f"admin persons list, {label} ({whose[who]})",
                         "scale": n, "database": ctx.database_label, "seconds": "",
                         "rows_per_s": "", "p95_ms": round(_p95(samples)), "median_ms": round(statistics.median(samples) * 1000),
                         "statuses": sorted(statuses)})
    samples = []
    for k in range(REPEAT):
        t0 = time.perf_counter()
        list(Person.objects.order_by("id").values_list("id", "name")[k * 50:k * 50 + 50])
        samples.append(time.perf_counter() - t0)
    ref = _p95(samples)
    worst = max(r["p95_ms"] for r in rows)
    for r in rows:
        bad = "" if r["statuses"] == [200] else f"; HTTP {r['statuses']}"
        r["seconds"] = round(r["p95_ms"] / 1000, 3)
        r["reference"] = f"p95 {r['p95_ms']} ms (median {r['median_ms']} ms); bare 50-row SELECT p95 {ref:.1f} ms{bad}"
        r["ratio"] = f"{r['p95_ms'] / ref:.0f}× the bare SELECT" if ref else "—"
        r["target"] = "p95 ≤ 300 ms" + (" ✓" if r["p95_ms"] <= 300 and not bad else " ✗")
    rows.append({"job": "admin persons list, worst p95 of all the above", "scale": n, "database": ctx.database_label,
                 "seconds": round(worst / 1000, 3), "reference": f"{worst} ms",
                 "target": "p95 ≤ 300 ms" + (" ✓" if worst <= 300 else " ✗")})
    connection.close()
    return rows
