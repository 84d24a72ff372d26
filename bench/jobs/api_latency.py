"""API and admin latency under 20 concurrent clients (PERFORMANCE.md: ≥ 250 reads/s with p95
≤ 100 ms, ≥ 100 settlements/s with p95 ≤ 250 ms, one client p95 ≤ 20 ms; admin change lists
≤ 300 ms).

Builds N persons with resident enrolments, VACUUM ANALYZEs (as production's autovacuum would
after such an import), starts gunicorn on loopback against the bench database, and runs 20 clients:
person list pages and details (reads), claim POSTs (settlements) and the persons admin change
list. The reference is the same read measured with one client, in the same run.

The clients are asyncio tasks with raw keep-alive HTTP connections (bench/http_load.py), not
Python ``requests`` threads: those cost about as much CPU as the request they measure and, on
2 cores, took it from the server. Each row says where the CPU went per request — the gunicorn
processes, the PostgreSQL backends of the bench database, the client — read from ``/proc``.

The server runs production-like: ``gunicorn config.wsgi -w <cores> -k gthread --threads 8``
(README "Production": one worker per core; threaded so that connections are kept alive), ``DEBUG=0`` and
the settings' persistent database connections (``DB_CONN_MAX_AGE`` default 60 s; bench/run.py
sets 0 for its own process only, not for the server: closing the connection after every
request halved the reads/s).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_SCALE = 20_000
CLIENTS = 20
REQUESTS_PER_CLIENT = 40
SINGLE_REQUESTS = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_note(result, server_cpu: float, db_cpu: float) -> str:
    """Where the CPU went per request, and the rate that CPU would allow on this machine's cores
    with nothing else running (what a loaded machine's figures cannot show)."""
    n = len(result.samples) or 1
    per_request = (server_cpu + db_cpu + result.client_cpu) / n
    cores = os.cpu_count() or 1
    ceiling = f"; ≈ {cores / per_request:.0f} req/s on {cores} idle cores" if per_request > 0 else ""
    return (f"CPU per request: server {server_cpu / n * 1000:.1f} ms, PostgreSQL {db_cpu / n * 1000:.1f} ms, "
            f"client {result.client_cpu / n * 1000:.1f} ms{ceiling}")


def run(ctx) -> list[dict]:
    import requests
    from django.db import connection

    from bench.http_load import children, cpu_seconds, cpu_used, postgres_backends, request_bytes, run_load
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
    # Production's autovacuum vacuums and analyses a table soon after a large import; the bench
    # database (and this machine's PostgreSQL, autovacuum off) would otherwise plan every list
    # as a hash join and sort over all 20 000 persons instead of an index scan of one page, and
    # count it by a sequential scan instead of an index-only one.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    database = connection.settings_dict.get("NAME") if connection.vendor == "postgresql" else None
    connection.close()

    port = _free_port()
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, DEBUG="0", ALLOWED_HOSTS="127.0.0.1", AXES_FAILURE_LIMIT="1000")
    env.pop("DB_CONN_MAX_AGE", None)  # production: the settings' default (persistent connections)
    # README "Production": one worker process per core, 8 threads each; threaded (gthread) workers
    # keep connections alive, measured 1.5× the reads/s of sync workers on 2 cores and a third of
    # the 1-client p95; 2 × 8 threads spent 15–25 % less CPU a request than 4 × 4 on 2 cores and
    # served 1.1–1.3× the settlements/s (reads/s within the noise).
    # BENCH_GUNICORN_ARGS="-w 4 -k gthread --threads 4" measures another configuration.
    default_args = f"-w {os.cpu_count() or 2} -k gthread --threads 8"
    gunicorn_args = os.environ.get("BENCH_GUNICORN_ARGS", default_args).split()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}",
                               *gunicorn_args, "--log-level", "warning"], cwd=root, env=env)
    host, base = f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        auth = {"Authorization": f"Token {token}"}
        ids = [p[0] for p in people]
        pages = [request_bytes("GET", f"/api/v1/persons/?page={k % 50 + 1}", host=host, headers=auth) for k in range(50)]

        def reads(k):
            if k % 2:
                return pages[k % 50]
            return request_bytes("GET", f"/api/v1/persons/{ids[(k * 7919) % len(ids)]}/", host=host, headers=auth)

        def settle(k):
            return request_bytes("POST", "/api/v1/claims/", host=host, headers=auth, json={
                "person": ids[(k * 104729) % len(ids)], "visit_type": "inpatient", "hospital_level": 2,
                "service_date": "2026-05-10", "total_cost": "12000.00", "policy_scope_cost": "10000.00",
                "in_province": True, "referred": True})

        admin_session = requests.Session()
        admin_session.get(base + "/admin/login/")
        admin_session.post(base + "/admin/login/", data={
            "username": "bench_super", "password": "bench-pass-2026", "next": "/admin/",
            "csrfmiddlewaretoken": admin_session.cookies.get("csrftoken")}, headers={"Referer": base + "/admin/login/"})
        cookie = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in admin_session.cookies)}

        def admin_list(k):
            return request_bytes("GET", f"/admin/members/person/?p={k % 20 + 1}", host=host, headers=cookie)

        def measure(make, clients, per_client):
            workers = children(server.pid)
            pids = [server.pid, *workers]
            backends = postgres_backends(database) if database else []
            server0, db0 = cpu_seconds(pids), cpu_seconds(backends)
            result = run_load("127.0.0.1", port, make, clients=clients, per_client=per_client)
            backends = postgres_backends(database) if database else []
            return result, cpu_used(server0, cpu_seconds(pids)), cpu_used(db0, cpu_seconds(backends))

        # warm every worker thread (imports, database connections) before measuring
        run_load("127.0.0.1", port, reads, clients=CLIENTS, per_client=10)
        single, server_cpu, db_cpu = measure(reads, 1, SINGLE_REQUESTS)
        one = single.p95_ms()
        reference = f"1 client p95 {one:.0f} ms"
        rows = [{"job": "api reads p95 (ms) × 1 client", "scale": n, "database": ctx.database_label,
                 "seconds": round(one, 1), "rows_per_s": round(single.per_s), "reference": _cpu_note(single, server_cpu, db_cpu),
                 "ratio": "—", "target": "p95 ≤ 20 ms" + (" ✓" if one <= 20 else " ✗")}]
        for label, make, clients, rate, p95_max in [("api reads p95 (ms)", reads, CLIENTS, 250, 100),
                                                    ("api settlement p95 (ms)", settle, CLIENTS, 100, 250),
                                                    ("admin persons list p95 (ms)", admin_list, 1, None, 300)]:
            result, server_cpu, db_cpu = measure(make, clients, REQUESTS_PER_CLIENT)
            p95, per_s, errors = result.p95_ms(), result.per_s, result.errors
            met = p95 <= p95_max and (rate is None or per_s >= rate) and not errors
            rows.append({"job": f"{label} × {clients} clients", "scale": n, "database": ctx.database_label,
                         "seconds": round(p95, 1), "rows_per_s": round(per_s),
                         "reference": reference + "; " + _cpu_note(result, server_cpu, db_cpu)
                         + (f"; {len(errors)} errors {sorted(set(errors))}" if errors else ""),
                         "ratio": f"p95 {p95 / one:.1f}× the 1-client p95" if one else "—",
                         "target": (f"≥ {rate} req/s, " if rate else "") + f"p95 ≤ {p95_max} ms" + (" ✓" if met else " ✗")})
        return rows
    finally:
        server.terminate()
        server.wait(timeout=20)
