"""The nightly ledger check: every ledger against its claims and entries, and against settling
its year again from scratch (台账与从头重算核对)."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from yibao_site.actors import require_actor

from .. import rules, selectors
from ..models import LedgerCheck, LedgerCheckShard, PersonYearLedger
from .inputs import error_items
from .ledger import _resettle
from .roles import CHECK_ROLES


def ledger_scratch_differences(*, year: int, person_ids=None, person_range: tuple[int, int] | None = None,
                               chunk: int = 2000) -> list[dict]:
    """Settle every person-year of ``year`` (or of ``person_ids``, or of the person-id range
    ``person_range``) again from scratch, without writing, and return one row per person-year
    whose ledger differs from it: the entries a re-settlement would write, by person
    (台账与从头重算核对)."""
    qs = PersonYearLedger.objects.filter(year=year).order_by("person_id")
    if person_ids is not None:
        qs = qs.filter(person_id__in=set(person_ids))
    if person_range is not None:
        qs = qs.filter(person_id__gte=person_range[0], person_id__lte=person_range[1])
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


DETAILS_KEPT = 100


def _jsonable_rows(rows: list[dict]) -> list[dict]:
    return [{**row, "ledger": str(row["ledger"]), "claims": str(row["claims"])} for row in rows[:DETAILS_KEPT]]


@transaction.atomic
def ledger_check_plan(*, year: int, actor, on: date | None = None, shard_size: int | None = None) -> LedgerCheck:
    """Plan ``year``'s check for ``on`` (default today): cut its ledgers into shards of about
    ``shard_size`` (default ``settings.LEDGER_CHECK_SHARD_SIZE``) and record them, replacing a
    plan made earlier the same day (its shards' tasks then find nothing to do).  The nightly
    job or a supervisor."""
    require_actor(actor, CHECK_ROLES, system=True)
    on = on or timezone.localdate()
    ranges = selectors.ledger_shard_ranges(year=year, size=shard_size or settings.LEDGER_CHECK_SHARD_SIZE)
    check, _created = LedgerCheck.objects.update_or_create(
        year=year, checked_on=on,
        defaults={"ledgers": sum(count for _a, _b, count in ranges), "mismatches": 0, "details": [],
                  "shards": len(ranges), "shards_done": 0})
    check.shard_rows.all().delete()
    LedgerCheckShard.objects.bulk_create([
        LedgerCheckShard(ledger_check=check, index=k, person_from=lo, person_to=hi, ledgers=count)
        for k, (lo, hi, count) in enumerate(ranges)])
    return check


def ledger_check_shard_run(*, shard_id: int, actor, from_scratch: bool = True) -> LedgerCheckShard | None:
    """Check one shard (its person-id range: against the sums of claims and entries and, with
    ``from_scratch``, against settling again) and fold its result into the check's totals.
    Returns ``None`` when the shard is gone (the day's check was planned again).  Running a
    shard twice records the same result."""
    require_actor(actor, CHECK_ROLES, system=True)
    shard = LedgerCheckShard.objects.filter(pk=shard_id).select_related("ledger_check").first()
    if shard is None:
        return None
    year, span = shard.ledger_check.year, (shard.person_from, shard.person_to)
    found = selectors.ledger_mismatches(year=year, person_range=span)
    if from_scratch:
        found += ledger_scratch_differences(year=year, person_range=span)
    with transaction.atomic():
        # the check row serialises the shards' folding (they finish in any order, on any worker)
        check = LedgerCheck.objects.select_for_update().filter(pk=shard.ledger_check_id).first()
        if check is None or not LedgerCheckShard.objects.filter(pk=shard_id).exists():
            return None
        shard.mismatches, shard.details, shard.finished_at = len(found), _jsonable_rows(found), timezone.now()
        shard.save(update_fields=["mismatches", "details", "finished_at"])
        done = list(check.shard_rows.filter(finished_at__isnull=False).order_by("index")
                    .values("mismatches", "details"))
        check.shards_done = len(done)
        check.mismatches = sum(row["mismatches"] for row in done)
        check.details = [d for row in done for d in row["details"]][:DETAILS_KEPT]
        check.save(update_fields=["shards_done", "mismatches", "details", "updated_at"])
    return shard


def ledger_check_run(*, year: int, actor, on: date | None = None, from_scratch: bool = True,
                     shard_size: int | None = None) -> LedgerCheck:
    """Check every ledger of ``year`` against its claims and entries, and (``from_scratch``)
    against settling its year again from the facts known now, shard after shard in this
    process; record the result for ``on`` (default today); a second run the same day updates
    the same record.  The nightly job spreads the shards over the workers instead
    (``claims.tasks.check_ledgers``).  The nightly job (``system_actor("claims.ledger_check")``)
    or a supervisor."""
    check = ledger_check_plan(year=year, actor=actor, on=on, shard_size=shard_size)
    for shard_id in check.shard_rows.order_by("index").values_list("pk", flat=True):
        ledger_check_shard_run(shard_id=shard_id, actor=actor, from_scratch=from_scratch)
    check.refresh_from_db()
    return check
