"""The nightly ledger check in shards (README, 超出一台机器): a year cut into person-id ranges,
one task each, totals folded as shards finish in any order."""
from datetime import date
from decimal import Decimal as D

import pytest

from claims import selectors, services, tasks
from claims.models import LedgerCheck, LedgerCheckShard, PersonYearLedger
from claims.selectors.ledgers import MAX_PERSON_ID
from yibao_site.actors import system_actor

from . import factories as f

pytestmark = pytest.mark.django_db
JOB = system_actor("claims.ledger_check")


@pytest.fixture
def five(shiyan):
    """Five insured persons with one claim each; the fourth's ledger tampered with."""
    people = [f.insured(shiyan, name=f"分片{k}") for k in range(5)]
    for p in people:
        f.settle(p, total="12000", on=date(2024, 2, 1))
    PersonYearLedger.objects.filter(person=people[3]).update(critical_paid=D("5.00"))
    return people


def test_ranges_cover_every_id_in_about_equal_slices(five):
    ranges = selectors.ledger_shard_ranges(year=2024, size=2)
    assert [count for _lo, _hi, count in ranges] == [2, 2, 1]
    assert ranges[0][0] == 0 and ranges[-1][1] == MAX_PERSON_ID
    assert all(ranges[k][1] + 1 == ranges[k + 1][0] for k in range(len(ranges) - 1))  # no gap, no overlap
    ids = sorted(p.pk for p in five)
    assert [sum(1 for i in ids if lo <= i <= hi) for lo, hi, _c in ranges] == [2, 2, 1]
    assert selectors.ledger_shard_ranges(year=2024, size=50_000) == [(0, MAX_PERSON_ID, 5)]
    assert selectors.ledger_shard_ranges(year=2031, size=2) == [(0, MAX_PERSON_ID, 0)]


def test_sharded_check_finds_what_the_whole_check_finds(five):
    whole = services.ledger_check_run(year=2024, actor=JOB, on=date(2024, 12, 30))
    sharded = services.ledger_check_run(year=2024, actor=JOB, on=date(2024, 12, 31), shard_size=2)
    assert (whole.shards, sharded.shards, sharded.shards_done) == (1, 3, 3)
    assert whole.mismatches == sharded.mismatches == 2  # the sums and the from-scratch settlement
    assert whole.ledgers == sharded.ledgers == 5
    assert {(d["person_id"], d["field"]) for d in sharded.details} == {
        (five[3].pk, "critical_paid"), (five[3].pk, "scratch:critical_paid")}
    shards = list(LedgerCheckShard.objects.filter(ledger_check=sharded).order_by("index"))
    assert [s.mismatches for s in shards] == [0, 2, 0] and all(s.finished_at for s in shards)


def test_shards_fold_in_any_order_and_a_second_run_changes_nothing(five):
    check = services.ledger_check_plan(year=2024, actor=JOB, on=date(2024, 12, 31), shard_size=2)
    ids = list(check.shard_rows.order_by("index").values_list("pk", flat=True))
    services.ledger_check_shard_run(shard_id=ids[2], actor=JOB)
    services.ledger_check_shard_run(shard_id=ids[1], actor=JOB)
    check.refresh_from_db()
    assert (check.shards_done, check.mismatches) == (2, 2)  # partial: one shard still to run
    services.ledger_check_shard_run(shard_id=ids[0], actor=JOB)
    services.ledger_check_shard_run(shard_id=ids[1], actor=JOB)  # delivered again after a worker died
    check.refresh_from_db()
    assert (check.shards_done, check.mismatches, len(check.details)) == (3, 2, 2)


def test_planning_again_the_same_day_retires_the_old_shards(five):
    first = services.ledger_check_plan(year=2024, actor=JOB, on=date(2024, 12, 31), shard_size=2)
    old = list(first.shard_rows.values_list("pk", flat=True))
    again = services.ledger_check_plan(year=2024, actor=JOB, on=date(2024, 12, 31), shard_size=5)
    assert again.pk == first.pk and again.shards == 1 and LedgerCheck.objects.count() == 1
    assert services.ledger_check_shard_run(shard_id=old[0], actor=JOB) is None  # a stale task does nothing
    again.refresh_from_db()
    assert (again.shards_done, again.mismatches) == (0, 0)


def test_the_nightly_task_sends_one_task_per_shard(five, settings, monkeypatch):
    settings.LEDGER_CHECK_SHARD_SIZE = 2
    sent = []
    monkeypatch.setattr(tasks.check_ledger_shard, "delay", lambda shard_id: sent.append(shard_id))
    result = tasks.check_ledgers(2024, "2024-12-31")
    assert result == {"year": 2024, "checked_on": "2024-12-31", "ledgers": 5, "shards": 3, "mismatches": None}
    check = LedgerCheck.objects.get()
    assert sent == list(check.shard_rows.order_by("index").values_list("pk", flat=True))
    for shard_id in sent:  # what the workers do
        assert tasks.check_ledger_shard(shard_id)["ledgers"] in (1, 2)
    check.refresh_from_db()
    assert (check.shards_done, check.mismatches) == (3, 2)


def test_only_the_job_or_a_supervisor_plans_a_check(five):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.ledger_check_plan(year=2024, actor=f.clerk())
    assert not LedgerCheck.objects.exists()
