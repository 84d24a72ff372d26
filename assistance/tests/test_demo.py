"""The demo seeds cases in every state through the services, and a second run changes nothing."""
from __future__ import annotations

import random
from datetime import date, timedelta
from types import SimpleNamespace

from assistance import demo
from assistance.models import Application, Payout


def test_demo_seeds_cases_in_many_states_and_is_idempotent(shiyan, staff, make_person, give_identity, settle_claim):
    today = date(2024, 6, 14)
    for i in range(4):
        person = make_person(f"重病{i}")
        settle_claim(person, today - timedelta(days=60), policy_scope_cost="30000", basic_paid="15000",
                     total_cost=str(60000 + i))
    for i in range(3):
        person = make_person(f"低保{i}")
        give_identity(person, "subsistence", today - timedelta(days=30))
        settle_claim(person, today - timedelta(days=90), policy_scope_cost="20000", basic_paid="10000")
    make_person("普通")
    ctx = SimpleNamespace(rng=random.Random(1), persons=10, jurisdiction=shiyan, today=today, log=lambda *a: None,
                          staff={"township_agent": staff["agent"], "reviewer": staff["reviewer"],
                                 "finance": staff["finance"], "window_clerk": staff["clerk"],
                                 "supervisor": staff["supervisor"]})
    demo.seed(ctx)
    statuses = set(Application.objects.values_list("status", flat=True))
    assert {"approved", "returned", "submitted"} <= statuses
    assert Payout.objects.exists()
    before = (Application.objects.count(), Payout.objects.count())
    demo.seed(ctx)
    assert (Application.objects.count(), Payout.objects.count()) == before
