"""``manage.py seed_demo --persons N``: the whole demo (every app of ``config/demo.py``
APP_ORDER) timed end to end, with the time each app's step took.

It runs in a subprocess against a database of its own (``<bench database>_demo`` on
PostgreSQL, a temporary file on SQLite), created and migrated first — migration is not timed —
so that the bench jurisdiction and the other jobs' rows do not mix with the demo's.

Reference (measured in the same run): ``members_import``-style throughput is not comparable
(the demo writes ≈ 6 rows per person across the apps), so the row carries the target as a rate:
1 M persons in ≤ 10 min is ≥ 1 667 persons/s; ``ratio`` is the measured rate over that, and
the row says what 1 M persons would take at the measured rate (a plain linear extrapolation).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SCALE = 20_000
TARGET_SECONDS_1M = 600.0
TARGET_RATE = 1_000_000 / TARGET_SECONDS_1M
ROOT = Path(__file__).resolve().parent.parent.parent


def _database_url() -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        return f"sqlite:///{Path(tempfile.mkdtemp(prefix='yibao-bench-demo-')) / 'demo.sqlite3'}"
    import psycopg

    url = os.environ["DATABASE_URL"]
    base, name = url.rsplit("/", 1)
    name = f"{name}_demo"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def run(ctx) -> list[dict]:
    n = ctx.scale or DEFAULT_SCALE
    log = getattr(ctx, "log", print)
    env = {**os.environ, "DATABASE_URL": _database_url(), "DB_CONN_MAX_AGE": "0"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], env=env, check=True, cwd=ROOT)
    started = time.perf_counter()
    proc = subprocess.Popen([*manage, "seed_demo", "--persons", str(n)], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    steps, current, mark = [], None, started
    for line in proc.stdout:
        now = time.perf_counter()
        log(f"  [{now - started:7.1f}s] {line.rstrip()}")
        match = re.match(r"demo data: (\S+)", line.strip())
        if match:
            if current:
                steps.append((current, now - mark))
            current, mark = match.group(1), now
    proc.wait()
    seconds = time.perf_counter() - started
    if current:
        steps.append((current, seconds - (mark - started)))
    if proc.returncode:
        raise RuntimeError(f"seed_demo exited with {proc.returncode}")
    rate = n / seconds if seconds else None
    by_app = ", ".join(f"{app} {s:.0f}s" for app, s in steps)
    extrapolated = f"1 M persons at this rate ≈ {1_000_000 / rate:,.0f} s" if rate else "—"
    return [{"job": f"seed_demo --persons {n}", "scale": n, "database": ctx.database_label,
             "seconds": round(seconds, 1), "rows_per_s": round(rate) if rate else None,
             "reference": f"persons/s; {extrapolated}; by app: {by_app}",
             "ratio": f"{rate / TARGET_RATE:.2f}" if rate else "—",
             "target": f"1 M in ≤ {TARGET_SECONDS_1M:.0f} s (≥ {TARGET_RATE:,.0f} persons/s)"}]
