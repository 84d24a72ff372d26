"""The single settlement's write doors give what the generic ones give (issue 14).

``bulk_create_audited`` of ONE object on PostgreSQL writes the row and its ``+`` history row in
one statement (``WITH ins AS (INSERT … RETURNING *) INSERT INTO history …``) instead of
django-simple-history's two ORM inserts; the fund-payment mark writes its update and ``~``
history in one statement.  Compared column by column with the generic door."""
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from simple_history.utils import bulk_create_with_history

from claims.models import Claim
from members.models import Enrollment
from yibao_site.audit import bulk_create_audited

from . import factories as f

SKIP = {"id", "history_id", "history_date", "settled_at"}  # settled_at: auto_now, the instant of each insert


def _row(model, pk):
    return {k: v for k, v in model.objects.filter(pk=pk).values().get().items() if k not in SKIP}


def _history(model, pk):
    return [{k: v for k, v in h.items() if k not in SKIP}
            for h in model.history.filter(id=pk).order_by("history_id").values()]


@pytest.mark.django_db
def test_one_claim_through_the_one_row_door_equals_simple_history(shiyan):
    person = f.insured(shiyan, township=0)
    clerk = f.clerk()
    settled = f.settle(person, total="12000.00", scope="10000.00")

    def twin():
        return Claim(**{fl.attname: getattr(settled, fl.attname) for fl in Claim._meta.concrete_fields
                        if not fl.primary_key and fl.attname != "settled_at"}, settled_at=settled.settled_at)

    fast = bulk_create_audited([twin()], Claim, actor=clerk, reason="结算")[0]
    generic = bulk_create_with_history([twin()], Claim, default_user=clerk, default_change_reason="结算")[0]
    assert fast.pk and generic.pk and fast.pk != generic.pk
    assert fast._state.adding is False
    assert _row(Claim, fast.pk) == _row(Claim, generic.pk)
    assert _row(Claim, fast.pk)["breakdown"] == settled.breakdown and settled.breakdown
    assert _history(Claim, fast.pk) == _history(Claim, generic.pk)
    assert len(_history(Claim, fast.pk)) == 1 and _history(Claim, fast.pk)[0]["history_type"] == "+"
    assert _history(Claim, fast.pk)[0]["history_user_id"] == clerk.pk


@pytest.mark.django_db
def test_fund_payment_mark_writes_the_update_and_its_history(shiyan):
    from members.public import enrollment_record_fund_payments

    person = f.insured(shiyan, township=0)
    other = f.insured(shiyan, township=0)
    clerk = f.clerk()
    before = {e.pk: len(_history(Enrollment, e.pk)) for e in Enrollment.objects.filter(person__in=[person, other])}
    assert enrollment_record_fund_payments(person_ids=[person.pk, other.pk], year=2024, actor=clerk) == 2
    assert enrollment_record_fund_payments(person_ids=[person.pk], year=2024, actor=clerk) == 0  # already marked
    for e in Enrollment.objects.filter(person__in=[person, other]):
        assert e.had_fund_payment is True
        history = _history(Enrollment, e.pk)
        assert len(history) == before[e.pk] + 1
        last = history[-1]
        assert (last["history_type"], last["history_user_id"], last["history_change_reason"]) == ("~", clerk.pk, "基金报销标记")
        assert last == {**_history(Enrollment, e.pk)[-2], "history_type": "~", "had_fund_payment": True,
                        "history_user_id": clerk.pk, "history_change_reason": "基金报销标记"}


@pytest.mark.django_db(transaction=True)
def test_a_first_claim_on_postgresql_is_eight_statements_and_one_transaction(api, staff, shiyan):
    """Person, ledger lock, ledger row, facts, claim + history, ledger write, fund-payment mark +
    history, next year's enrolments read after the mark (the cap refresh: an enrolment of next
    year committed after the facts were read waited for nothing the facts saw — test_caps_race);
    BEGIN and COMMIT, no savepoint (the members services it calls make none)."""
    if connection.vendor != "postgresql":
        pytest.skip("statement shapes of PostgreSQL")
    from django.test.utils import CaptureQueriesContext

    from .test_api import BODY
    from .test_statement_budget import _split

    warm = f.insured(shiyan, township=0)  # the policy cache loaded once per process, as a server's is
    assert api(staff["clerk"]).post("/api/v1/claims/", {**BODY, "person": warm.id_number}, format="json").status_code == 201
    person = f.insured(shiyan, township=0)
    with CaptureQueriesContext(connection) as queries:
        res = api(staff["clerk"]).post("/api/v1/claims/", {**BODY, "person": person.id_number}, format="json")
    assert res.status_code == 201, res.data
    work, control = _split(queries.captured_queries)
    assert len(work) <= 8, "\n".join(work)
    assert len(control) <= 2 and not any(c.upper().startswith("SAVEPOINT") for c in control), control
    claim = Claim.objects.get(person=person)
    assert claim.history.count() == 1
    assert Enrollment.objects.get(person=person, year=2024).had_fund_payment is True
    assert Decimal(res.data["out_of_pocket"]) == claim.out_of_pocket
    assert claim.service_date == date(2024, 6, 1)
