"""The monthly caps refresh against a person-year's very first claim, committed at the same
time (PostgreSQL, real threads and connections).

Yicheng from 2025 (DOMAIN.md §3): a zero-reimbursement 2024 followed by a normal 2025 payment
gives the 2025 cap 400 000 + 3 000 = 403 000.  A policy correction raises the zero-claim bonus
to 5 000 from 2025, so the refresh makes it 405 000.  ``p``'s first 2025 claim (total and
policy scope 1 200 000, basic 200 000, 1 000 000 left) is capped by the cap: whichever commits
first, ``p``'s 2025 ledger must end at critical 405 000 and equal a from-scratch computation.

The settlement has no ledger row to lock before its first claim; the refresh takes (creates)
the ledger rows of the person-years whose cap changes before it locks their enrolments, and
deletes those it created before committing (``q``, without claims, keeps no ledger row).

The interleaving is forced, not hoped for (``races.race``): one side stops at a hook, the
other runs until it has finished or waits for a lock.
"""
from datetime import date
from decimal import Decimal as D

import pytest

from claims import services, tasks
from claims.models import EntryKind, LedgerEntry, PersonYearLedger
from claims.services import ledger as ledger_module
from claims.services import settlement as settlement_module
from members.models import Enrollment

from . import factories as f
from .races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

@pytest.fixture
def setup(yicheng):
    from yibao_site.services import policy_parameter_save

    p, q = f.insured(yicheng, year=2024), f.insured(yicheng, year=2024)
    f.enrol(p, year=2025)
    f.enrol(q, year=2025)
    assert Enrollment.objects.get(person=p, year=2025).critical_illness_cap == D("403000.00")
    policy_parameter_save(region=yicheng.city, key="critical.cap.zero_claim_bonus", value="5000",
                          effective_from=date(2025, 1, 1), source="更正")
    return p, q


def _first_claim(p):
    clerk = f.clerk()
    return lambda: services.claim_settle(person=p, visit_type="inpatient", hospital_level=2,
                                         service_date=date(2025, 3, 1), total_cost=D("1200000"),
                                         policy_scope_cost=D("1200000"), actor=clerk)


def _assert_settled_under_the_new_cap(p, q):
    assert [e.critical_illness_cap for e in Enrollment.objects.filter(person__in=[p, q], year=2025)
            .order_by("person_id")] == [D("405000.00"), D("405000.00")]
    row = PersonYearLedger.objects.get(person=p, year=2025)
    assert (row.basic_paid, row.critical_paid, row.claims_count) == (D("200000.00"), D("405000.00"), 1)
    assert services.ledger_scratch_differences(year=2025, person_ids=[p.pk, q.pk]) == []
    assert not PersonYearLedger.objects.filter(person=q).exists()


def test_a_first_claim_settled_while_the_refresh_holds_the_person_year(monkeypatch, setup):
    """The refresh stops after changing the caps (its chunk not committed); ``p``'s first
    claim then arrives.  It waits for the refresh and settles under 405 000 — no entry."""
    p, q = setup
    totals, claim = race(monkeypatch, lambda: tasks.enrollment_caps_refresh(2025),
                          (ledger_module, "enrollment_caps_refresh_persons"), _first_claim(p))
    assert totals["changed"] == 2
    assert claim.critical_paid == D("405000.00")
    _assert_settled_under_the_new_cap(p, q)
    assert not LedgerEntry.objects.exists()


def test_the_refresh_while_a_first_claim_is_being_settled(monkeypatch, setup):
    """``p``'s first claim stops after reading its facts (cap 403 000; its ledger row created,
    not committed); the refresh runs meanwhile.  The refresh waits for it, then re-settles
    ``p``'s 2025: one 补付 entry of critical +2 000."""
    p, q = setup
    claim, totals = race(monkeypatch, _first_claim(p), (settlement_module, "_person_facts"),
                          lambda: tasks.enrollment_caps_refresh(2025))
    assert claim.critical_paid == D("403000.00")
    assert (totals["changed"], totals["resettled"], totals["entries"]) == (2, 1, 1)
    entry = LedgerEntry.objects.get()
    assert (entry.person_id, entry.year, entry.kind, entry.critical) == (p.pk, 2025, EntryKind.ADJUSTMENT,
                                                                          D("2000.00"))
    _assert_settled_under_the_new_cap(p, q)


def test_a_late_claim_for_the_year_before_while_a_first_claim_is_being_settled(monkeypatch, yicheng):
    """The settlement's own follow-up (零报销激励): ``p``'s first 2025 claim stops after
    reading its facts (cap 403 000); a December 2024 claim the fund pays is settled meanwhile,
    so 2024 has a fund payment and the 2025 cap falls to 400 000.  The late claim's follow-up
    waits for the 2025 claim, then re-settles it: one 追回 entry of critical −3 000."""
    p = f.insured(yicheng, year=2024)
    f.enrol(p, year=2025)
    clerk = f.clerk()
    december = lambda: services.claim_settle(  # noqa: E731
        person=p, visit_type="inpatient", hospital_level=2, service_date=date(2024, 12, 20),
        total_cost=D("12000"), policy_scope_cost=D("12000"), actor=clerk)
    claim, late = race(monkeypatch, _first_claim(p), (settlement_module, "_person_facts"), december)
    assert claim.critical_paid == D("403000.00") and late.basic_paid > 0
    assert Enrollment.objects.get(person=p, year=2025).critical_illness_cap == D("400000.00")
    row = PersonYearLedger.objects.get(person=p, year=2025)
    assert (row.critical_paid, row.claims_count) == (D("400000.00"), 1)
    entry = LedgerEntry.objects.get()
    assert (entry.person_id, entry.year, entry.critical) == (p.pk, 2025, D("-3000.00"))
    assert services.ledger_scratch_differences(year=2025, person_ids=[p.pk]) == []
    assert services.ledger_scratch_differences(year=2024, person_ids=[p.pk]) == []
