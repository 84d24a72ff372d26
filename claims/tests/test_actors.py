"""Every claims write service names its caller and refuses a missing or wrong one before it
writes anything (yibao_site.actors.require_actor); scheduled jobs pass a system actor."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied

from claims import services
from claims.models import Claim, FundEntry, FundEntryKind, LedgerCheck, LedgerEntry, PersonYearLedger
from claims.services import ClaimInput
from yibao_site.actors import system_actor

from . import factories as f


def _inpatient(p, day=date(2024, 6, 1)):
    return ClaimInput(person_id=p.pk, visit_type="inpatient", hospital_level=2, service_date=day,
                      total_cost=D("15000"), policy_scope_cost=D("12000"))


def test_settlement_refuses_nobody_and_roles_outside_the_window(shiyan, staff):
    p = f.insured(shiyan)
    for actor in (None, staff["finance"], staff["reviewer"], staff["agent"]):
        with pytest.raises(PermissionDenied):
            f.settle(p, total="15000", scope="12000", actor=actor)
        with pytest.raises(PermissionDenied):
            services.claims_settle_batch(inputs=[_inpatient(p)], actor=actor)
    # a single settlement is a person at the window, never a job
    with pytest.raises(PermissionDenied):
        f.settle(p, total="15000", scope="12000", actor=system_actor("claims.import"))
    assert not Claim.objects.exists() and not PersonYearLedger.objects.exists()
    # the platform file import as a job settles a batch; the supervisor may settle one claim
    (claim,) = services.claims_settle_batch(inputs=[_inpatient(p)], actor=system_actor("claims.import"))
    assert claim.basic_paid == D("8625.00") and claim.created_by is None
    assert f.settle(p, total="100", scope="100", on=date(2024, 7, 1), actor=staff["supervisor"]).pk


def test_reversal_and_correction_need_the_window(shiyan, staff):
    p = f.insured(shiyan)
    claim = f.settle(p, total="15000", scope="12000")
    for actor in (None, staff["finance"], system_actor("claims.ledger_check")):
        with pytest.raises(PermissionDenied):
            services.claim_reverse(claim=claim, actor=actor)
        with pytest.raises(PermissionDenied):
            services.claim_correct(claim=claim, actor=actor, total_cost=D("100"))
    claim.refresh_from_db()
    assert claim.status == "settled" and Claim.objects.count() == 1


def test_resettlement_takes_a_reviewer_or_a_job_and_cash_takes_finance(shiyan, staff):
    p = f.insured(shiyan)
    f.settle(p, total="15000", scope="12000")
    keys = {(p.pk, 2024)}
    for actor in (None, staff["clerk"], staff["finance"]):
        with pytest.raises(PermissionDenied):
            services.person_years_resettle(keys=keys, actor=actor, reason="核对")
    assert services.person_years_resettle(keys=keys, actor=staff["reviewer"], reason="核对").entries == []
    assert services.person_years_resettle(keys=keys, actor=system_actor("claims.resettle_ledgers"),
                                          reason="核对").confirmed
    with pytest.raises(PermissionDenied):
        services.ledger_resettle(person=p, year=2024, confirm=True, actor=system_actor("claims.x"))
    for actor in (None, staff["clerk"], staff["supervisor"], system_actor("payments.run")):
        with pytest.raises(PermissionDenied):
            services.ledger_entries_settle(entry_ids=[], reference="V-1", actor=actor)
    for actor in (None, staff["clerk"]):
        with pytest.raises(PermissionDenied):
            services.ledger_entries_settle_cash(application_id=1, reference="V-1", actor=actor)
    assert services.ledger_entries_settle_cash(application_id=1, reference="V-1",
                                               actor=system_actor("payments.run")) == 0
    assert not LedgerEntry.objects.exists()


def test_fund_entries_and_the_ledger_check_name_their_caller(shiyan, staff):
    for actor in (None, staff["clerk"]):
        with pytest.raises(PermissionDenied):
            services.fund_entry_record(fund="resident", region=shiyan.city, month=date(2024, 1, 1),
                                       kind=FundEntryKind.OPENING, amount=D("1000"), actor=actor)
        with pytest.raises(PermissionDenied):
            services.ledger_check_run(year=2024, actor=actor)
    assert not FundEntry.objects.exists() and not LedgerCheck.objects.exists()
    entry = services.fund_entry_record(fund="resident", region=shiyan.city, month=date(2024, 1, 9),
                                       kind=FundEntryKind.OPENING, amount=D("1000"), actor=staff["finance"])
    assert entry.month == date(2024, 1, 1) and entry.created_by == staff["finance"]
    check = services.ledger_check_run(year=2024, actor=system_actor("claims.ledger_check"))
    assert check.mismatches == 0
