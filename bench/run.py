#!/usr/bin/env python
"""Benchmarks of the main jobs (not part of the test suite; never asserted in tests).

    .venv/bin/python bench/run.py                                   # SQLite, default scales
    .venv/bin/python bench/run.py --database postgres://postgres@127.0.0.1:5432/yibao_bench
    .venv/bin/python bench/run.py --jobs settlement,warning --scale 100000
    .venv/bin/python bench/run.py --database postgres://…/yibao_bench --jobs warning --keep   # reuse its data

Each job is a module in bench/jobs/ with ``run(ctx) -> list[dict]``; a row has the keys
job, scale, database, seconds, rows_per_s, reference (the reference figure measured in the
same run, see ../shared/PERFORMANCE.md) and, where the job has a target, ratio (the job against
that reference) and target (with whether it was met). The database is created afresh for the
run (``--keep``: reused when it exists, so a job that can reuse its data — ``warning`` —
skips generating it; the others expect a fresh database); the load average before and after
each job is printed with the table.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class BenchContext:
    database_label: str
    scale: int | None
    jurisdiction: object = None
    log: callable = print
    extra: dict = field(default_factory=dict)


def fresh_database(url: str | None, keep: bool = False) -> str:
    """Create the run's database afresh; with ``keep``, reuse it when it already exists."""
    if not url:
        path = Path(tempfile.mkdtemp(prefix="yibao-bench-")) / "bench.sqlite3"
        return f"sqlite:///{path}"
    if url.startswith("postgres"):
        import psycopg

        base, name = url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if keep and exists:
                return url
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="DATABASE_URL (default: a fresh SQLite file)")
    parser.add_argument("--jobs", help="comma-separated job names (default: all)")
    parser.add_argument("--scale", type=int, help="rows/persons per job (default: each job's own)")
    parser.add_argument("--keep", action="store_true",
                        help="reuse the database named by --database when it exists, and the data a job generated "
                             "in it (the warning job's persons and claims: minutes at 1 M); default: drop and recreate")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown (for RESULTS.md)")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = fresh_database(args.database, keep=args.keep)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DB_CONN_MAX_AGE"] = "0"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from yibao_site.testing import build_jurisdiction

    call_command("migrate", verbosity=0)
    ctx = BenchContext(database_label=connection.vendor, scale=args.scale, extra={"keep": args.keep})
    ctx.jurisdiction = build_jurisdiction(townships=7, villages=5)

    names = args.jobs.split(",") if args.jobs else [m.name for m in pkgutil.iter_modules([str(ROOT / "bench" / "jobs")])]
    rows = []
    loads = [os.getloadavg()[0]]
    for name in names:
        module = importlib.import_module(f"bench.jobs.{name}")
        started = time.perf_counter()
        print(f"→ {name} … (load average {os.getloadavg()[0]:.1f})", flush=True)
        try:
            rows.extend(module.run(ctx))
        except Exception as exc:  # one failing job must not hide the others' results
            import traceback

            traceback.print_exc()
            rows.append({"job": name, "reference": f"FAILED: {exc!r}"[:120]})
        loads.append(os.getloadavg()[0])
        print(f"  {name} done in {time.perf_counter() - started:.1f}s (load average {loads[-1]:.1f})", flush=True)

    header = ["job", "scale", "database", "seconds", "rows_per_s", "reference", "ratio", "target"]
    widths = [max(len(h), *(len(str(r.get(h, ""))) for r in rows)) for h in header] if rows else [len(h) for h in header]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(str(r.get(h, "")).ljust(w) for h, w in zip(header, widths)))
    load_text = f"load average (1 min) during the run: {min(loads):.1f}–{max(loads):.1f}"
    print(f"\n{load_text}")
    if args.markdown:
        print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(str(r.get(h, "")) for h in header) + " |")
        print(f"\n{load_text}")
    return 1 if any(str(r.get("reference", "")).startswith("FAILED") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
