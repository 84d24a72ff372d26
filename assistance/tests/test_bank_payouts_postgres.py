"""Assistance payout batches on PostgreSQL (issue 17): concurrent batch creations for the same
region, and a batch racing finance's manual settlement — no ledger entry instructed twice,
none both instructed and paid by hand."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Sum

from assistance.bank_payouts.services import payout_batch_create
from assistance.models import LIVE_LINE_STATES, PayoutBatch, PayoutLine, PayoutLineState
from claims.models import CashStatus, EntryKind, LedgerEntry
from payments import services as pay
from payments.models import Instruction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _threads(targets):
    barrier = threading.Barrier(len(targets))
    results = []

    def go(fn):
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # a loser's refusal is a result too
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=go, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    return results


def _owed(make_person, finance, n=30, without_account=5):
    """``n`` persons, each owed 100.00 + i × 0.01 and 20.00 (two 补付 entries); the last
    ``without_account`` have no account.  Payable: Σ_{i<25} (120.00 + 0.01 i) = 3 000.00 + 3.00."""
    persons = [make_person(f"并发{i:02d}") for i in range(n)]
    entries = []
    for i, p in enumerate(persons):
        for amount in (Decimal("100.00") + Decimal("0.01") * i, Decimal("20.00")):
            entries.append(LedgerEntry(person=p, year=2024, kind=EntryKind.ADJUSTMENT, batch="PG", basic=amount,
                                       reason="补付", cash_status=CashStatus.TO_PAY))
    LedgerEntry.objects.bulk_create(entries)
    for p in persons[: n - without_account]:
        pay.person_account_save(person=p, account_name=p.name, bank_name="测试银行",
                                account_number=f"62{p.pk:012d}", actor=finance)
    return persons


def test_concurrent_batches_for_the_same_region_instruct_each_entry_once(staff, shiyan, make_person):
    _owed(make_person, staff["finance"])
    results = _threads([lambda: payout_batch_create(region=shiyan.city, on=date(2024, 4, 1), actor=staff["finance"])
                        for _ in range(3)])
    assert all(isinstance(r, PayoutBatch) for r in results), results
    live = PayoutLine.objects.filter(state__in=LIVE_LINE_STATES)
    assert set(Counter(live.values_list("entry_id", flat=True)).values()) == {1}
    assert live.count() == 50 and LedgerEntry.objects.filter(cash_status=CashStatus.INSTRUCTED).count() == 50
    assert set(live.values_list("entry_id", flat=True)) == set(
        LedgerEntry.objects.filter(cash_status=CashStatus.INSTRUCTED).values_list("pk", flat=True))
    assert Instruction.objects.filter(purpose="assistance").count() == 25
    assert Instruction.objects.aggregate(s=Sum("amount"))["s"] == Decimal("3003.00")
    assert sum(r.total_amount for r in results) == Decimal("3003.00")
    assert sorted(r.count for r in results) == [0, 0, 25]
    # The five without an account are held (listed) by every batch, never instructed.
    assert all(r.held_count == 5 for r in results)
    assert PayoutLine.objects.filter(state=PayoutLineState.HELD).values("entry").distinct().count() == 10


def test_a_batch_racing_the_manual_settlement_never_pays_an_entry_twice(staff, shiyan, make_person):
    from claims.services import ledger_entries_settle

    _owed(make_person, staff["finance"], n=10, without_account=0)
    ids = list(LedgerEntry.objects.values_list("pk", flat=True))
    results = _threads([
        lambda: payout_batch_create(region=shiyan.city, on=date(2024, 4, 1), actor=staff["finance"]),
        lambda: ledger_entries_settle(entry_ids=ids, reference="手工-1", actor=staff["finance"]),
    ])
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1 and all(isinstance(r, ValidationError) for r in results if r not in winners)
    statuses = set(LedgerEntry.objects.values_list("cash_status", flat=True))
    if isinstance(winners[0], PayoutBatch):
        assert statuses == {CashStatus.INSTRUCTED} and PayoutLine.objects.filter(state="instructed").count() == 20
    else:
        assert statuses == {CashStatus.PAID} and not PayoutLine.objects.exists()
