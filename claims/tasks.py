"""Claims jobs: the nightly ledger check and the background import of a platform file."""
from __future__ import annotations

import logging
from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from yibao_site.actors import system_actor
from yibao_site.imports import importer_for, read_table
from yibao_site.models import User

from .schedule import LEDGER_CHECK_SHARD_TASK, LEDGER_CHECK_TASK
from .services import ledger_caps_refresh, ledger_check_plan, ledger_check_shard_run

log = logging.getLogger(__name__)


@shared_task(name=LEDGER_CHECK_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def check_ledgers(year: int | None = None, on: str | None = None) -> dict:
    """Check every year ledger of ``year`` (default: this year) against its claims and record
    the result for ``on`` (ISO date, default today); running it twice changes nothing.

    A year of more than ``LEDGER_CHECK_SHARD_SIZE`` ledgers is cut into shards, each checked by
    its own :func:`check_ledger_shard` task on whichever worker takes it; the check's totals
    grow as the shards finish (``shards_done`` of ``shards``).  One shard is checked here."""
    day = date.fromisoformat(on) if on else timezone.localdate()
    actor = system_actor("claims.ledger_check")
    check = ledger_check_plan(year=int(year or day.year), on=day, actor=actor)
    shard_ids = list(check.shard_rows.order_by("index").values_list("pk", flat=True))
    if len(shard_ids) == 1:
        ledger_check_shard_run(shard_id=shard_ids[0], actor=actor)
        check.refresh_from_db()
        if check.mismatches:
            log.error("ledger check %s: %s mismatches, first %s", check.year, check.mismatches, check.details[:5])
        return {"year": check.year, "checked_on": check.checked_on.isoformat(), "ledgers": check.ledgers,
                "mismatches": check.mismatches}
    for shard_id in shard_ids:
        check_ledger_shard.delay(shard_id)
    return {"year": check.year, "checked_on": check.checked_on.isoformat(), "ledgers": check.ledgers,
            "shards": len(shard_ids), "mismatches": None}


@shared_task(name=LEDGER_CHECK_SHARD_TASK, acks_late=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, max_retries=5)
def check_ledger_shard(shard_id: int) -> dict | None:
    """Check one shard of a day's ledger check (a worker killed mid-shard: the message is
    delivered again and the shard checked again, which records the same result)."""
    shard = ledger_check_shard_run(shard_id=shard_id, actor=system_actor("claims.ledger_check"))
    if shard is None:
        return None
    if shard.mismatches:
        log.error("ledger check shard %s (%s–%s): %s mismatches", shard.index, shard.person_from, shard.person_to,
                  shard.mismatches)
    return {"shard": shard.index, "ledgers": shard.ledgers, "mismatches": shard.mismatches}


@shared_task(name="members.enrollment_caps_refresh")
def enrollment_caps_refresh(year: int | None = None) -> dict:
    """Recompute the critical-illness caps of ``year`` (default: this year) now that the
    previous year's zero-claim status is known, and re-settle the person-years already
    settled under a cap that changed (``ledger_caps_refresh``).  Idempotent.

    The task keeps the name of members' beat row (migration ``members.0004``): members cannot
    re-settle claims (claims depends on members, not the other way), so the job lives here."""
    year = int(year or timezone.localdate().year)
    return {"year": year, **ledger_caps_refresh(year=year, actor=system_actor("members.enrollment_caps_refresh"))}


@shared_task(name="claims.import_file", acks_late=True)
def import_file(path: str, user_id: int | None = None, dry_run: bool = False) -> dict:
    """Import a platform settlement file (CSV/XLSX) in the background; idempotent (serial
    numbers already settled are left unchanged), all or nothing."""
    user = User.objects.filter(pk=user_id).first() if user_id else None
    report = importer_for("claims")(user=user).run(read_table(path), dry_run=dry_run, actor=user)
    return {"ok": report.ok, "summary": report.summary(), "created": report.created, "unchanged": report.unchanged,
            "errors": [str(e) for e in report.errors[:200]]}
