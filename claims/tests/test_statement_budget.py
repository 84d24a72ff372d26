"""Statement budget of one settlement through the API (issue 14: ≤ 6 SQL statements a claim).

Counted: every statement the database connection executes while the test client sends the
``POST /api/v1/claims/`` and reads the answer — the person look-up, the ledger lock, the
facts, the claim, its history row, the ledger write — except transaction control (``BEGIN``,
``COMMIT``, ``SAVEPOINT``, ``RELEASE``), which is listed apart and bounded too.  The client
is authenticated with ``force_authenticate`` (no session or token statements; those belong
to the API's per-request plumbing).  The test runs in a real transaction (``transaction=True``)
so that settlement's ``atomic`` is the outer one, as in production.  Statement counts, never
wall-clock time.  Runs on SQLite and on PostgreSQL.
"""
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from claims.models import Claim, PersonYearLedger

from . import factories as f
from .test_api import BODY

CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def _split(queries):
    control = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(CONTROL)]
    work = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith(CONTROL)]
    return work, control


@pytest.mark.django_db(transaction=True)
def test_a_plain_claim_costs_at_most_six_statements(api, staff, shiyan):
    person = f.insured(shiyan, township=0)
    client = api(staff["clerk"])
    first = client.post("/api/v1/claims/", {**BODY, "person": person.id_number, "service_date": "2024-05-01"},
                        format="json")
    assert first.status_code == 201, first.data
    with CaptureQueriesContext(connection) as queries:
        res = client.post("/api/v1/claims/", {**BODY, "person": person.id_number}, format="json")
    assert res.status_code == 201, res.data
    work, control = _split(queries.captured_queries)
    assert len(work) <= 6, "\n".join(work)
    assert len(control) <= 2, control
    # …and the ledger equals what the two claims add up to.
    ledger = PersonYearLedger.objects.get(person=person, year=2024)
    claims = list(Claim.objects.filter(person=person))
    assert ledger.claims_count == 2
    assert ledger.out_of_pocket == sum((c.out_of_pocket for c in claims), Decimal("0"))
    assert ledger.basic_inpatient_paid == sum((c.basic_paid for c in claims), Decimal("0"))


@pytest.mark.django_db(transaction=True)
def test_the_first_claim_of_a_year_stays_bounded(api, staff, shiyan):
    """The first claim of a person-year also creates the ledger row and marks the enrolment
    as having had a fund payment (零报销激励), with its history row."""
    person = f.insured(shiyan, township=0)
    with CaptureQueriesContext(connection) as queries:
        res = api(staff["clerk"]).post("/api/v1/claims/", {**BODY, "person": person.id_number}, format="json")
    assert res.status_code == 201, res.data
    work, _control = _split(queries.captured_queries)
    assert len(work) <= 16, "\n".join(work)
