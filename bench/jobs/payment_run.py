"""The daily supplier payment run over N accepted, reconciled deliveries (PERFORMANCE.md:
100 000 deliveries in ≤ 10 s).

Rows: (1) the run itself — lock, chunked SELECT … FOR UPDATE SKIP LOCKED, payment lines,
deliveries marked paid with their history rows, payment orders per supplier, hospital
deductions, due-soon/overdue flags; (2) the same date again (idempotent: returns at once).
The reference beside them is the ``bulk_create`` of the N deliveries measured in the same run
(no validation, no history) — PERFORMANCE.md's "≈ 20 000–25 000 rows/s" figure.
"""
from __future__ import annotations

import time
from datetime import timedelta

DEFAULT_SCALE = 100_000
SUPPLIERS = 40
PRODUCTS = 200
#: issue 14: the run ≤ 0.5× the bulk_create of the same deliveries.
TARGET_RATIO = 0.5


def run(ctx) -> list[dict]:
    from django.utils import timezone

    from payments.testing import bank_staff
    from procurement import services
    from procurement.models import Delivery, PaymentLine
    from procurement.testing import RUN_JOB, bulk_accepted_deliveries

    n = ctx.scale or DEFAULT_SCALE
    log = getattr(ctx, "log", print)
    j = ctx.jurisdiction
    today = timezone.localdate()
    finance = bank_staff()[0]  # master data is finance's (the services refuse no actor)

    suppliers = [services.supplier_save(code=f"BS{i:03d}", name=f"基准企业{i}", bank_name="基准银行",
                                        bank_account=f"62000000{i:06d}", actor=finance) for i in range(SUPPLIERS)]
    products = [services.product_save(code=f"BP{i:04d}", name=f"基准产品{i}", kind="drug" if i % 3 else "consumable",
                                      unit_price=f"{1 + i % 97}.{i % 100:02d}", supplier=suppliers[i % SUPPLIERS], actor=finance)
                for i in range(PRODUCTS)]
    hospitals = [services.hospital_save(code=f"BH{i:03d}", name=f"基准医院{i}", level=1 + i % 3, township=t,
                                        actor=finance)
                 for i, t in enumerate(j.townships)]

    started = time.perf_counter()
    built = bulk_accepted_deliveries(n=n, hospitals=hospitals, products=products,
                                     accepted_on=today - timedelta(days=5), payment_days=30)
    ref_seconds = time.perf_counter() - started
    ref = f"bulk_create of the same {built} deliveries {ref_seconds:.2f}s"

    rows = []

    def record(job, seconds, count, target=None):
        ratio = round(seconds / ref_seconds, 3) if ref_seconds > 0 else None
        row = {"job": job, "scale": count, "database": ctx.database_label, "seconds": round(seconds, 2),
               "rows_per_s": round(count / seconds) if seconds > 0 else None, "reference": ref,
               "ratio": f"{ratio}× the reference" if ratio is not None else ""}
        if target is not None:
            row["target"] = (f"≤ {target}× the reference (≤ 10 s at 100 000 on a quiet machine): "
                             f"{'met' if ratio is not None and ratio <= target else 'NOT met'}")
        rows.append(row)
        log(f"  {job}: {count} rows in {seconds:.2f}s ({row['ratio']})")

    started = time.perf_counter()
    result = services.payment_run_start(as_of=today, actor=RUN_JOB)
    record("payment_run (pay all)", time.perf_counter() - started, n, target=TARGET_RATIO)
    assert result.count == n and PaymentLine.objects.count() == n, (result.count, n)
    assert not Delivery.objects.filter(status="accepted").exists()

    started = time.perf_counter()
    again = services.payment_run_start(as_of=today, actor=RUN_JOB)
    record("payment_run (same date again)", time.perf_counter() - started, n)
    assert again.pk == result.pk and PaymentLine.objects.count() == n
    return rows
