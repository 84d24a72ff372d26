"""The nightly ledger check: every ledger against its claims and entries, and against settling
its year again from scratch (台账与从头重算核对)."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from yibao_site.actors import require_actor

from .. import rules, selectors
from ..models import LedgerCheck, PersonYearLedger
from .inputs import error_items
from .ledger import _resettle
from .roles import CHECK_ROLES


def ledger_scratch_differences(*, year: int, person_ids=None, chunk: int = 2000) -> list[dict]:
    """Settle every person-year of ``year`` (or of ``person_ids``) again from scratch, without
    writing, and return one row per person-year whose ledger differs from it: the entries a
    re-settlement would write, by person (台账与从头重算核对)."""
    qs = PersonYearLedger.objects.filter(year=year).order_by("person_id")
    if person_ids is not None:
        qs = qs.filter(person_id__in=set(person_ids))
    ids = list(qs.values_list("person_id", flat=True))
    out = []
    for start in range(0, len(ids), chunk):
        keys = {(pid, year) for pid in ids[start:start + chunk]}
        try:
            result = _resettle(keys=keys, actor=None, reason="核对", confirm=False)
        except ValidationError as exc:
            out.append({"person_id": None, "year": year, "field": "resettle", "ledger": None,
                        "claims": "; ".join(m for _f, msgs in error_items(exc) for m in msgs)})
            continue
        rows = {(r.person_id, r.year): r for r in PersonYearLedger.objects.filter(
            person_id__in={p for p, _y in keys}, year=year)}
        for e in result.entries:
            out.append({"person_id": e.person_id, "year": year, "field": f"adjustment:claim#{e.claim_id}",
                        "ledger": None, "claims": e.total})
        for key, state in result.states.items():
            row = rows.get(key)
            for name in rules.LEDGER_FIELDS:
                if row is not None and getattr(row, name) != state[name]:
                    out.append({"person_id": key[0], "year": year, "field": f"scratch:{name}",
                                "ledger": getattr(row, name), "claims": state[name]})
    return out


@transaction.atomic
def ledger_check_run(*, year: int, actor, on: date | None = None, from_scratch: bool = True) -> LedgerCheck:
    """Check every ledger of ``year`` against its claims and entries, and (``from_scratch``)
    against settling the year again from the facts known now; record the result for ``on``
    (default today); a second run the same day updates the same record.  The nightly job
    (``system_actor("claims.ledger_check")``) or a supervisor."""
    require_actor(actor, CHECK_ROLES, system=True)
    on = on or timezone.localdate()
    found = selectors.ledger_mismatches(year=year)
    if from_scratch:
        found += ledger_scratch_differences(year=year)
    details = [{**row, "ledger": str(row["ledger"]), "claims": str(row["claims"])} for row in found[:100]]
    check, _created = LedgerCheck.objects.update_or_create(
        year=year, checked_on=on,
        defaults={"ledgers": PersonYearLedger.objects.filter(year=year).count(), "mismatches": len(found),
                  "details": details})
    return check
