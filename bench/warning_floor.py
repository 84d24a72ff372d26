"""Where the warning run's time goes, next to the reference, in the same minutes (issue 14).

Run after ``bench/run.py --jobs warning --keep`` has generated its data in the database::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/yb_warn_bench \\
        .venv/bin/python bench/warning_floor.py --months 3,12 --repeat 3

For each month and repetition, interleaved, each in its own transaction that is rolled back
(nothing is kept):

- ``reference``: the bench's hand-written ``GROUP BY … HAVING`` over the raw claims;
- ``run``: the run's own statement (warnings inserted, their history copied from what the
  insert returned);
- ``select``: the same ``SELECT`` counted, nothing written;
- ``writes``: the same inserts of the warnings and their history from the rows that ``SELECT``
  returned, computed beforehand into a temporary table (not timed) — the cost of the writes
  alone, the floor of any run that writes these rows.

PostgreSQL only.  Prints one line per measurement and the medians.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _statements(month: date):
    """The run's statement for ``month`` and its ``SELECT``, captured from a run that is stopped
    before it writes (and rolled back)."""
    from django.db import connection, transaction

    from assistance.early_warning import services
    from assistance.early_warning.services import run as engine
    from yibao_site.models import Region, RegionLevel

    city = Region.objects.filter(level=RegionLevel.CITY).order_by("pk").first()
    captured = {}
    original = engine._warnings_select

    def spy(**kwargs):
        captured["select"] = original(**kwargs)
        return captured["select"]

    class Stop(Exception):
        pass

    def wrapper(execute, sql, params, many, context):
        if sql.startswith("WITH written AS"):
            captured["run"] = (sql, params)
            raise Stop
        return execute(sql, params, many, context)

    engine._warnings_select = spy
    try:
        with connection.execute_wrapper(wrapper), transaction.atomic():
            services.warning_run(region=city, month=month, actor=services.SYSTEM, trigger="bench")
        raise RuntimeError(f"{month:%Y-%m}: the run wrote no list")
    except Stop:
        pass
    finally:
        engine._warnings_select = original
    return captured["run"], captured["select"]


def measure(months: list[int], repeat: int, year: int = 2025) -> dict:
    from django.db import connection, transaction

    from assistance.early_warning import rules
    from assistance.early_warning.services import run as engine

    qn = connection.ops.quote_name
    columns = ", ".join(qn(c) for c in engine._WARNING_COLUMNS)
    results: dict[tuple[int, str], list[float]] = {}
    prepared = {}
    for m in months:
        month = date(year, m, 1)
        (run_sql, run_params), (select_sql, select_params) = _statements(month)
        assert select_sql in run_sql
        line = engine._units(engine.Region.objects.filter(level="city").order_by("pk").first(), month)[0].return_line
        prepared[m] = {
            "reference": ("SELECT person_id, SUM(out_of_pocket) FROM claims_claim WHERE year = %s AND service_date <= %s "
                          "GROUP BY person_id HAVING SUM(out_of_pocket) > %s", [year, rules.month_end(month), line]),
            "run": (run_sql, run_params),
            "select": (f"SELECT count(*) FROM ({select_sql}) s", select_params),
            "writes": (run_sql.replace(select_sql, "SELECT * FROM floor_rows"), run_params[len(select_params):]),
            "_rows": (f"CREATE TEMP TABLE floor_rows ({columns}) ON COMMIT DROP AS {select_sql}", select_params),
        }
    for rep in range(repeat):
        for m in months:
            for name in ("reference", "run", "select", "writes"):
                sql, params = prepared[m][name]
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SET LOCAL jit = off")  # what the run sets (the reference: default)
                    cursor.execute("SET LOCAL work_mem = '64MB'")
                    if name == "reference":
                        cursor.execute("RESET jit")
                        cursor.execute("RESET work_mem")
                    if name == "writes":
                        cursor.execute(*prepared[m]["_rows"])
                        cursor.execute("ANALYZE floor_rows")
                    started = time.perf_counter()
                    cursor.execute(sql, params)
                    cursor.fetchall()
                    seconds = time.perf_counter() - started
                    transaction.set_rollback(True)
                results.setdefault((m, name), []).append(seconds)
                print(f"  month {m:2d} {name:9s} {seconds:6.3f}s  (load {os.getloadavg()[0]:.1f})", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", default="3,12")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        print("PostgreSQL only")
        return 2
    from bench.jobs.warning import _clear_warnings

    _clear_warnings()  # what the job does with --keep: each month is run afresh
    months = [int(m) for m in args.months.split(",")]
    print(f"load average {os.getloadavg()}")
    results = measure(months, args.repeat)
    print(f"load average {os.getloadavg()}")
    for m in months:
        med = {name: statistics.median(results[(m, name)]) for name in ("reference", "run", "select", "writes")}
        print(f"month {m:2d} medians: reference {med['reference']:.2f}s, run {med['run']:.2f}s "
              f"({med['reference'] / med['run']:.2f}×), select {med['select']:.2f}s, writes {med['writes']:.2f}s "
              f"(a run of writes alone: {med['reference'] / med['writes']:.2f}×); "
              f"ranges: " + ", ".join(f"{n} {min(results[(m, n)]):.2f}–{max(results[(m, n)]):.2f}"
                                      for n in ("reference", "run", "select", "writes")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
