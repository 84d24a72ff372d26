"""API and admin latency under 20 concurrent clients (PERFORMANCE.md: p95 ≤ 50 ms for reads,
≤ 100 ms for a settlement, admin change lists ≤ 300 ms).

Builds N persons with resident enrolments, starts gunicorn on loopback against the bench
database, and runs 20 client threads: person list pages and details (reads), claim POSTs
(settlements) and the persons admin change list. The reference is the same read measured
with one client, in the same run.

The server runs production-like: ``gunicorn config.wsgi -w 4 -k gthread --threads 4``
(README "Production": 4 workers; threaded so that connections are kept alive), ``DEBUG=0`` and
the settings' persistent database connections (``DB_CONN_MAX_AGE`` default 60 s; bench/run.py
sets 0 for its own process only, not for the server: closing the connection after every
request halved the reads/s).
"""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

DEFAULT_SCALE = 20_000
CLIENTS = 20
REQUESTS_PER_CLIENT = 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _p95(samples: list[float]) -> float:
    samples = sorted(samples)
    return samples[max(0, int(len(samples) * 0.95) - 1)] * 1000


def run(ctx) -> list[dict]:
    import requests
    from django.db import connection

    from bench.jobs.members_import import _csv, _ids
    from yibao_site.imports import importer_for, read_table
    from yibao_site.services import staff_save

    n = ctx.scale or DEFAULT_SCALE
    j = ctx.jurisdiction
    villages = [v for t in j.townships for v in j.villages[t.code]]
    people = _ids(j.county.code, n, 5_000_000)
    report = importer_for("persons")().run(read_table(_csv(
        ["id_number", "name", "village"], [[idn, f"测{i}", villages[i % len(villages)].code] for i, (idn, _b, _s) in enumerate(people)]),
        filename="p.csv"))
    assert report.ok, report.summary()
    report = importer_for("enrollments")().run(read_table(_csv(
        ["person", "year", "scheme", "paid_on"], [[idn, "2026", "resident", "2025-10-01"] for idn, _b, _s in people]),
        filename="e.csv"))
    assert report.ok, report.summary()
    staff_save(username="bench_clerk", role="window_clerk", password="bench-pass-2026")
    staff_save(username="bench_super", role="supervisor", password="bench-pass-2026")
    from rest_framework.authtoken.models import Token

    from yibao_site.models import User

    token = Token.objects.get_or_create(user=User.objects.get(username="bench_clerk"))[0].key
    connection.close()

    port = _free_port()
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, DEBUG="0", ALLOWED_HOSTS="127.0.0.1", AXES_FAILURE_LIMIT="1000")
    env.pop("DB_CONN_MAX_AGE", None)  # production: the settings' default (persistent connections)
    # README "Production": 4 worker processes; threaded (gthread) workers keep connections alive,
    # measured 1.5× the reads/s of sync workers on 2 cores and a third of the 1-client p95.
    # BENCH_GUNICORN_ARGS="-w 4" measures the sync workers instead.
    gunicorn_args = os.environ.get("BENCH_GUNICORN_ARGS", "-w 4 -k gthread --threads 4").split()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}",
                               *gunicorn_args, "--log-level", "warning"], cwd=root, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        headers = {"Authorization": f"Token {token}"}
        ids = [p[0] for p in people]

        def reads(session, k):
            if k % 2:
                return session.get(f"{base}/api/v1/persons/?page={k % 50 + 1}", headers=headers)
            return session.get(f"{base}/api/v1/persons/{ids[(k * 7919) % len(ids)]}/", headers=headers)

        def settle(session, k):
            return session.post(f"{base}/api/v1/claims/", headers=headers, json={
                "person": ids[(k * 104729) % len(ids)], "visit_type": "inpatient", "hospital_level": 2,
                "service_date": "2026-05-10", "total_cost": "12000.00", "policy_scope_cost": "10000.00",
                "in_province": True, "referred": True})

        admin_session = requests.Session()
        page = admin_session.get(base + "/admin/login/")
        admin_session.post(base + "/admin/login/", data={
            "username": "bench_super", "password": "bench-pass-2026", "next": "/admin/",
            "csrfmiddlewaretoken": admin_session.cookies.get("csrftoken")}, headers={"Referer": base + "/admin/login/"})

        def admin_list(session, k):
            return admin_session.get(f"{base}/admin/members/person/?p={k % 20 + 1}")

        def measure(fn, clients):
            samples, errors = [], []

            def worker(c):
                session = requests.Session()
                for k in range(REQUESTS_PER_CLIENT):
                    started = time.perf_counter()
                    response = fn(session, c * REQUESTS_PER_CLIENT + k)
                    samples.append(time.perf_counter() - started)
                    if response.status_code >= 400:
                        errors.append(response.status_code)

            threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return samples, errors, time.perf_counter() - started

        for k in range(20):  # warm every worker (imports, connections) before measuring
            reads(requests.Session(), k)
        single, _e, single_s = measure(reads, 1)
        one = _p95(single)
        reference = f"1 client p95 {one:.0f} ms"
        rows = [{"job": "api reads p95 (ms) × 1 client", "scale": n, "database": ctx.database_label,
                 "seconds": round(one, 1), "rows_per_s": round(len(single) / single_s), "reference": "—",
                 "ratio": "—", "target": "p95 ≤ 20 ms" + (" ✓" if one <= 20 else " ✗")}]
        for label, fn, clients, rate, p95_max in [("api reads p95 (ms)", reads, CLIENTS, 250, 100),
                                                  ("api settlement p95 (ms)", settle, CLIENTS, 100, 250),
                                                  ("admin persons list p95 (ms)", admin_list, 1, None, 300)]:
            samples, errors, seconds = measure(fn, clients)
            p95, per_s = _p95(samples), len(samples) / seconds
            met = p95 <= p95_max and (rate is None or per_s >= rate) and not errors
            rows.append({"job": f"{label} × {clients} clients", "scale": n, "database": ctx.database_label,
                         "seconds": round(p95, 1), "rows_per_s": round(per_s),
                         "reference": reference + (f"; {len(errors)} errors {sorted(set(errors))}" if errors else ""),
                         "ratio": f"p95 {p95 / one:.1f}× the 1-client p95" if one else "—",
                         "target": (f"≥ {rate} req/s, " if rate else "") + f"p95 ≤ {p95_max} ms" + (" ✓" if met else " ✗")})
        return rows
    finally:
        server.terminate()
        server.wait(timeout=20)
