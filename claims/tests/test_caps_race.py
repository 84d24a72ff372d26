"""The next year's critical-illness cap and this year's first fund payment, committed at the
same time (PostgreSQL, real threads and connections; issue 14 review).

Yicheng from 2025 (DOMAIN.md §3): a zero-reimbursement 2024 followed by a normal 2025 payment
adds 3 000 to the 2025 cap (400 000 → 403 000).  A December 2024 claim the fund pays makes
2024 a year with fund payment: the 2025 cap is 400 000, whichever of the two commits first.

The interleaving is forced, not hoped for: the enrolment stops right after reading the
person's history; the settlement then runs; the enrolment goes on once the settlement has
either finished (no common lock: the race) or is seen waiting for a lock in
``pg_stat_activity`` (the fix).  No wall-clock assert: the waits only bound a broken run.
"""
from datetime import date
from decimal import Decimal as D

import pytest

from claims import services
from claims.models import Claim
from members.models import Enrollment
from members.services import enrolment as enrolment_module

from . import factories as f
from .races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(monkeypatch, enrol, settle):
    """Run ``enrol`` in one thread, stopped after its history read, and ``settle`` in another
    meanwhile; return (what enrol returned, what settle returned)."""
    return race(monkeypatch, enrol, (enrolment_module, "enrollment_histories"), settle)


def test_next_years_enrolment_and_this_years_first_fund_payment_at_once(monkeypatch, yicheng):
    """The window's enrolment for 2025 against the window's settlement of a December 2024
    claim (one person, the single-claim path)."""
    p = f.insured(yicheng, year=2024)
    clerk = f.clerk()
    assert Enrollment.objects.get(person=p, year=2024).had_fund_payment is False

    enrolled, claim = _race(
        monkeypatch,
        lambda: f.enrol(p, year=2025),
        lambda: services.claim_settle(person=p, visit_type="inpatient", hospital_level=2,
                                      service_date=date(2024, 12, 20), total_cost=D("12000"),
                                      policy_scope_cost=D("12000"), actor=clerk))
    assert claim.basic_paid > 0
    assert Enrollment.objects.get(person=p, year=2024).had_fund_payment is True
    # 2024 had a fund payment: no zero-claim bonus for 2025, whoever committed first.
    assert Enrollment.objects.get(person=p, year=2025).critical_illness_cap == D("400000.00")
    assert enrolled.year == 2025 and Claim.objects.filter(person=p).count() == 1


def test_next_years_enrolment_and_a_batch_marking_this_years_fund_payment(monkeypatch, yicheng):
    """The same race through the batch (two persons in one ``claims_settle_batch``, the
    platform file's path)."""
    p, q = f.insured(yicheng, year=2024), f.insured(yicheng, year=2024)
    clerk = f.clerk()
    inputs = [services.ClaimInput(person_id=x.pk, visit_type="inpatient", hospital_level=2,
                                  service_date=date(2024, 12, 20), total_cost=D("12000"),
                                  policy_scope_cost=D("12000")) for x in (p, q)]
    _race(monkeypatch, lambda: f.enrol(p, year=2025),
          lambda: services.claims_settle_batch(inputs=inputs, actor=clerk))
    assert Enrollment.objects.get(person=p, year=2024).had_fund_payment is True
    assert Enrollment.objects.get(person=p, year=2025).critical_illness_cap == D("400000.00")


def _import_2025(p, q):
    """The enrolments import of 2025 for ``p`` and ``q`` (paid on time, Yicheng's 350)."""
    from yibao_site.imports import importer_for

    rows = [{"person": x.id_number, "year": "2025", "scheme": "resident", "paid_on": "2024-10-08"} for x in (p, q)]
    report = importer_for("enrollments")().run(rows, actor=f.clerk())
    assert report.ok, [str(e) for e in report.errors]
    return report


def _settle_december(*persons):
    clerk = f.clerk()
    return lambda: services.claims_settle_batch(inputs=[
        services.ClaimInput(person_id=x.pk, visit_type="inpatient", hospital_level=2, service_date=date(2024, 12, 20),
                            total_cost=D("12000"), policy_scope_cost=D("12000")) for x in persons], actor=clerk)


@pytest.mark.parametrize("stop", ["before_write", "in_write"])
def test_the_enrolments_import_and_a_batch_marking_this_years_fund_payment(monkeypatch, yicheng, stop):
    """The import of next year's enrolments against a settlement batch, the import stopped
    after its look-ups and checks (``before_write``: the settlement commits meanwhile; the
    import's look-up is stale) or inside its write (``in_write``, after the write's first
    statement: on the fixed code the settlement then waits for it).  ``p`` claims in December
    2024 (no bonus for 2025), ``q`` does not (403 000)."""
    from members.importers import EnrollmentImporter

    p, q = f.insured(yicheng, year=2024), f.insured(yicheng, year=2024)
    assert Enrollment.objects.get(person=p, year=2024).had_fund_payment is False
    # Stop the import where asked, by pretending to read a history there (the hook of _race).
    if stop == "before_write":
        original = EnrollmentImporter.check_file

        def check_file(self, rows, cleaned):
            out = original(self, rows, cleaned)
            enrolment_module.enrollment_histories([], before_year=2025)
            return out
        monkeypatch.setattr(EnrollmentImporter, "check_file", check_file)
    else:
        from members import services as member_services

        lock = getattr(member_services, "enrollment_years_before_lock", None)
        if lock is not None:  # the fixed code: stop right after the lock
            def locked(keys):
                out = lock(keys)
                enrolment_module.enrollment_histories([], before_year=2025)
                return out
            monkeypatch.setattr(member_services, "enrollment_years_before_lock", locked)
        else:  # main: stop at the write's start
            original_write = EnrollmentImporter.write

            def write(self, cleaned, *, actor=None):
                enrolment_module.enrollment_histories([], before_year=2025)
                return original_write(self, cleaned, actor=actor)
            monkeypatch.setattr(EnrollmentImporter, "write", write)
    _race(monkeypatch, lambda: _import_2025(p, q), _settle_december(p))
    assert Enrollment.objects.get(person=p, year=2024).had_fund_payment is True
    assert Enrollment.objects.get(person=p, year=2025).critical_illness_cap == D("400000.00")
    assert Enrollment.objects.get(person=q, year=2025).critical_illness_cap == D("403000.00")
