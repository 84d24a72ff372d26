"""A stateful property test of the one ledger (issue 11): claims, reversals, corrections,
late-dated claims, approvals (a tilt entitlement with its catch-up; an identity found later
and a reviewer's re-settlement) interleaved in random order, for both packs.  After every
step the year ledger equals the from-scratch computation of the same facts to the fen, equals
the sum of its claims and entries, and no tier passes its cap."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from claims import selectors, services
from claims.models import ClaimStatus, EntryKind, PersonYearLedger
from members import services as members

from . import factories as f

YEAR = 2024
CAPS = {  # pack: (assistance cap, second-round cap) for a category 2 object
    "yicheng": (D("30000"), D("20000")),
    "shiyan": (D("50000"), D("100000")),
}

money = st.integers(min_value=0, max_value=80_000).map(lambda n: D(n))
days = st.integers(min_value=0, max_value=330).map(lambda n: date(YEAR, 1, 1) + timedelta(days=n))


def make_machine(jurisdiction, pack: str):
    class LedgerMachine(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.savepoint = transaction.savepoint()
            self.person = f.insured(jurisdiction)
            self.identity_given = False
            self.tilt = False

        def teardown(self):
            if hasattr(self, "savepoint"):
                transaction.savepoint_rollback(self.savepoint)

        def live(self):
            return list(self.person.claims.filter(status=ClaimStatus.SETTLED).order_by("id"))

        @rule(on=days, scope=money, basic_share=st.integers(0, 100), with_critical=st.booleans())
        def settle_claim(self, on, scope, basic_share, with_critical):
            basic = (scope * basic_share / 100).quantize(D("1"))
            critical = D("0") if with_critical else None
            f.settle(self.person, on=on, total=scope, scope=scope, basic_paid=basic, critical_paid=critical)

        @rule(data=st.data())
        def reverse(self, data):
            claims = self.live()
            if claims:
                services.claim_reverse(claim=data.draw(st.sampled_from(claims)), reason="冲销", actor=f.clerk())

        @rule(data=st.data(), on=days, share=st.integers(0, 100))
        def correct(self, data, on, share):
            claims = self.live()
            if claims:
                claim = data.draw(st.sampled_from(claims))
                basic = (claim.policy_scope_cost * share / 100).quantize(D("1"))
                services.claim_correct(claim=claim, actor=f.clerk(), service_date=on, basic_paid=basic, critical_paid=D("0"),
                                       reason="更正")

        @rule(valid_from=days)
        def identity_found_then_reviewer_resettles(self, valid_from):
            if not self.identity_given:
                self.identity_given = True
                f.identity(self.person, "subsistence", valid_from=valid_from)
                services.person_years_resettle(keys={(self.person.pk, YEAR)}, reason="补录低保身份", actor=f.reviewer())

        @rule(on=days)
        def approve_tilt(self, on):
            if pack == "shiyan" and self.identity_given and not self.tilt:
                self.tilt = True
                members.entitlement_grant(person=self.person, kind="tilt", category=2,
                                          valid_from=date(YEAR, 1, 1), valid_to=date(YEAR, 12, 31))
                services.person_years_resettle(keys={(self.person.pk, YEAR)}, reason="倾斜救助批准", actor=f.reviewer(),
                                               kind=EntryKind.PAYOUT)

        @invariant()
        def ledger_is_the_from_scratch_computation(self):
            if not hasattr(self, "person") or not PersonYearLedger.objects.filter(person=self.person).exists():
                return
            assert services.ledger_scratch_differences(year=YEAR, person_ids=[self.person.pk]) == []
            assert selectors.ledger_mismatches(year=YEAR, person_ids=[self.person.pk]) == []
            row = PersonYearLedger.objects.get(person=self.person, year=YEAR)
            assistance_cap, second_cap = CAPS[pack]
            assert D("0") <= row.assistance_paid <= assistance_cap
            assert D("0") <= row.second_round_paid <= second_cap
            assert row.claims_count == len(self.live())

    return LedgerMachine


@pytest.mark.slow
@pytest.mark.parametrize("pack", ["yicheng", "shiyan"])
def test_ledger_equals_the_from_scratch_computation_in_any_order_of_events(db, pack, request):
    jurisdiction = request.getfixturevalue(pack)
    machine = make_machine(jurisdiction, pack)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=12, stateful_step_count=8, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
