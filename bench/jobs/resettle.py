"""Re-settlement of person-years from scratch (issue 11; PERFORMANCE.md "re-settlement of
person-years: set-based; recorded").

Builds N person-years of a resident with four claims each through the settlement batch (in
service-date order, so no late-claim path), then re-settles every one of them from scratch
in chunks of 2 000 person-years — what ``resettle_ledgers --confirm`` does after a policy
correction — once as a preview (nothing written) and once confirmed after a rate change that
moves every assisted person-year (adjustment entries bulk-written).  The reference beside it is
the settlement batch of the same claims measured in the same run.
"""
from __future__ import annotations

import random
import time
from datetime import date, timedelta
from decimal import Decimal

DEFAULT_SCALE = 100_000  # person-years
CLAIMS_PER_YEAR = 4
CHUNK = 2_000


def run(ctx):
    from claims import services
    from claims.models import LedgerEntry
    from claims.selectors import SettlementPolicyCache
    from yibao_site.actors import system_actor
    from yibao_site.services import policy_parameter_save

    from .settlement import YEAR, _persons

    n = ctx.scale or DEFAULT_SCALE
    j = ctx.jurisdiction
    rng = random.Random(11)
    before = LedgerEntry.objects.count()  # other jobs of the run (late claims) may have written some
    persons = _persons(j, n, 8_000_000)
    inputs = []
    for p in persons:
        for k in range(CLAIMS_PER_YEAR):
            total = Decimal(rng.randint(300_000, 3_000_000)) / 100
            inputs.append(services.ClaimInput(
                person_id=p.pk, visit_type="inpatient", hospital_level=rng.choice((1, 2, 3)),
                service_date=date(YEAR, 1, 1) + timedelta(days=k * 80 + rng.randint(0, 60)),
                total_cost=total, policy_scope_cost=(total * Decimal("0.9")).quantize(Decimal("0.01"))))
    inputs.sort(key=lambda i: i.service_date)
    cache = SettlementPolicyCache()
    started = time.perf_counter()
    for k in range(0, len(inputs), 5_000):
        services.claims_settle_batch(inputs=inputs[k:k + 5_000], cache=cache, actor=system_actor("bench.resettle"))
    settle_seconds = time.perf_counter() - started
    ref = f"settlement batch of the same {len(inputs)} claims {settle_seconds:.1f}s"
    ids = [p.pk for p in persons]

    def resettle(confirm: bool) -> tuple[float, int]:
        entries = 0
        began = time.perf_counter()
        for k in range(0, len(ids), CHUNK):
            keys = {(pid, YEAR) for pid in ids[k:k + CHUNK]}
            entries += len(services.person_years_resettle(keys=keys, reason="bench", confirm=confirm,
                                                       actor=system_actor("bench.resettle")).entries)
        return time.perf_counter() - began, entries

    rows = []
    seconds, entries = resettle(False)
    rows.append({"job": "re-settlement preview (no change)", "scale": n, "database": ctx.database_label,
                 "seconds": round(seconds, 2), "rows_per_s": round(n / seconds) if seconds else None,
                 "reference": f"{ref}; ratio {settle_seconds / seconds:.2f}× (entries {entries})" if seconds else ref,
                 "target": "set-based; recorded"})
    policy_parameter_save(region=j.city, key="assistance.cat2.inpatient.rate", value="0.75",
                          effective_from=date(YEAR, 1, 1), source="bench correction")
    seconds, entries = resettle(True)
    rows.append({"job": "re-settlement after a rate correction", "scale": n, "database": ctx.database_label,
                 "seconds": round(seconds, 2), "rows_per_s": round(n / seconds) if seconds else None,
                 "reference": f"{ref}; ratio {settle_seconds / seconds:.2f}×; {entries} adjustments"
                 if seconds else ref, "target": "set-based; recorded"})
    assert LedgerEntry.objects.count() - before == entries
    return rows
