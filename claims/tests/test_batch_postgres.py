"""A large batch on PostgreSQL goes through COPY: same rows, same history, same ledgers."""
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from claims import selectors, services
from yibao_site.audit import COPY_THRESHOLD
from claims.models import Claim, PersonYearLedger

from . import factories as f

pytestmark = pytest.mark.postgres


def test_a_copy_batch_writes_claims_history_and_ledgers_like_the_small_path(shiyan, staff):
    people = [f.insured(shiyan, township=i % 2) for i in range(6)]
    f.identity(people[0], "subsistence")
    inputs = [services.ClaimInput(person_id=people[i % 6].pk, visit_type=("inpatient", "chronic", "outpatient")[i % 3],
                                  hospital_level=1 + i % 3, service_date=date(2024, 1, 1) + timedelta(days=i),
                                  total_cost=D(1000 + 37 * i), policy_scope_cost=D(900 + 30 * i))
              for i in range(COPY_THRESHOLD + 50)]
    saved = services.claims_settle_batch(inputs=inputs, actor=staff["clerk"], reason="批量")
    assert len(saved) == len(inputs) and all(c.pk for c in saved)
    assert Claim.objects.count() == len(inputs)
    history = Claim.history.filter(history_type="+")
    assert history.count() == len(inputs)
    first = history.get(id=saved[0].pk)
    assert first.history_user == staff["clerk"] and first.history_change_reason == "批量"
    stored = Claim.objects.get(pk=saved[0].pk)
    assert stored.breakdown == saved[0].breakdown and stored.explanation == saved[0].explanation
    # every breakdown as settled (its shared policy record spliced into the COPY text), history too
    stored_all = dict(Claim.objects.values_list("id", "breakdown"))
    assert all(stored_all[c.pk] == c.breakdown for c in saved)
    assert dict(history.values_list("id", "breakdown")) == stored_all
    assert selectors.ledger_mismatches(year=2024) == []
    assert sum(PersonYearLedger.objects.values_list("claims_count", flat=True)) == len(inputs)
    # the claims settle exactly as one-by-one settlement would
    services.claim_reverse(claim=stored, actor=staff["clerk"])
    assert selectors.ledger_mismatches(year=2024) == []
