"""Parallel settlements for one person serialise on the ledger row (PostgreSQL)."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection

from claims import services
from claims.models import Claim, PersonYearLedger

from . import factories as f

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _parallel(n, work):
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            return work(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_parallel_settlements_never_pass_the_outpatient_cap(shiyan):
    """16 parallel level-1 outpatient claims of 100 (65 % → 65 each) against the resident
    outpatient cap of 200: exactly 200 is paid in total (65 + 65 + 65 + 5), never more."""
    p = f.insured(shiyan)
    clerk = f.clerk()

    def settle(i):
        return services.claim_settle(person=p, visit_type="outpatient", hospital_level=1,
                                     service_date=date(2024, 5, 1 + i), total_cost=D("100"),
                                     policy_scope_cost=D("100"), actor=clerk).basic_paid

    paid = _parallel(16, settle)
    # Claims that commit after a later-dated one are late claims: each is settled in its place
    # and the later claims get adjustment entries, so the claims and their entries pay 200.
    from claims.models import LedgerEntry
    adjustments = sum((e.basic for e in LedgerEntry.objects.filter(person=p)), D("0"))
    assert sum(paid) + adjustments == D("200.00")
    assert services.ledger_scratch_differences(year=2024, person_ids=[p.pk]) == []
    ledger = PersonYearLedger.objects.get(person=p, year=2024)
    assert ledger.basic_outpatient_paid == D("200.00") and ledger.claims_count == 16
    assert ledger.out_of_pocket == D("1400.00") and Claim.objects.count() == 16


def test_parallel_first_claims_create_one_ledger_and_share_the_assistance_cap(yicheng):
    """Yicheng 特困 (category 1, 70 %, cap 30 000): 12 parallel chronic claims of 10 000 with the
    platform's basic 6 500 → 3 500 each to assist → 2 450 each; 12 × 2 450 = 29 400 fits; the
    13th … 16th would pass 30 000: the total stays exactly 30 000."""
    from chronic.testing import certify

    p = f.insured(yicheng)
    f.identity(p, "extreme_poverty")
    certify(p, "M00201", date(2024, 1, 1), None)  # chronic benefits need a certified disease
    clerk = f.clerk()

    def settle(i):
        return services.claim_settle(person=p, visit_type="chronic", hospital_level=2,
                                     service_date=date(2024, 3, 1 + i), total_cost=D("10000"),
                                     policy_scope_cost=D("10000"), basic_paid=D("6500"),
                                     critical_paid=D("0"), disease="M00201", actor=clerk).assistance_paid

    paid = _parallel(16, settle)
    from claims.models import LedgerEntry
    adjustments = sum((e.assistance for e in LedgerEntry.objects.filter(person=p)), D("0"))
    assert sum(paid) + adjustments == D("30000.00")
    assert services.ledger_scratch_differences(year=2024, person_ids=[p.pk]) == []
    assert PersonYearLedger.objects.filter(person=p).count() == 1
    assert PersonYearLedger.objects.get(person=p).assistance_paid == D("30000.00")


def test_parallel_requests_through_the_api(shiyan, api, staff):
    p = f.insured(shiyan)
    body = {"person": p.id_number, "visit_type": "outpatient", "hospital_level": 1, "service_date": "2024-05-01",
            "total_cost": "100.00", "policy_scope_cost": "100.00"}

    def post(i):
        return api(staff["clerk"]).post("/api/v1/claims/", body, format="json").status_code

    assert _parallel(10, post) == [201] * 10
    assert PersonYearLedger.objects.get(person=p).basic_outpatient_paid == D("200.00")
