"""The nightly ledger check and the background import."""
import time
from datetime import date
from decimal import Decimal as D

import pytest

from claims import selectors, services, tasks
from claims.models import Claim, LedgerCheck, PersonYearLedger

from . import factories as f


def test_ledgers_agree_with_claims_after_settling_and_reversing(shiyan):
    p = f.insured(shiyan)
    f.identity(p, "subsistence")
    f.settle(p, total="12000", on=date(2024, 2, 1))
    claim = f.settle(p, level=3, total="60000", on=date(2024, 4, 1))
    f.settle(p, visit_type="outpatient", level=1, total="150", on=date(2024, 4, 9))
    services.claim_reverse(claim=claim, actor=f.clerk())
    assert selectors.ledger_mismatches(year=2024) == []
    result = tasks.check_ledgers(2024, "2024-12-31")
    assert result == {"year": 2024, "checked_on": "2024-12-31", "ledgers": 1, "mismatches": 0}
    assert tasks.check_ledgers(2024, "2024-12-31") == result and LedgerCheck.objects.count() == 1


def test_a_tampered_ledger_is_reported(shiyan):
    p = f.insured(shiyan)
    f.settle(p, total="12000", on=date(2024, 2, 1))
    PersonYearLedger.objects.filter(person=p).update(oop_m02=D("1.00"), critical_paid=D("5.00"))
    found = {(r["field"], r["ledger"], r["claims"]) for r in selectors.ledger_mismatches(year=2024)}
    assert found == {("oop_m02", D("1.00"), D("3375.00")), ("critical_paid", D("5.00"), D("0.00"))}
    # Both checks find it: against the sums of claims and entries, and against settling the
    # year again from scratch.
    assert tasks.check_ledgers(2024)["mismatches"] == 4
    details = LedgerCheck.objects.get().details
    assert {d["person_id"] for d in details} == {p.pk}
    assert {d["field"] for d in details} == {"oop_m02", "critical_paid", "scratch:oop_m02", "scratch:critical_paid"}


def test_import_file_task_imports_and_is_idempotent(shiyan, tmp_path):
    from chronic.testing import certify

    p = f.insured(shiyan)
    certify(p, "M00501", date(2024, 1, 1), date(2024, 12, 31))  # a chronic claim names a certified disease
    path = tmp_path / "c.csv"
    path.write_text("person,visit_type,hospital_level,service_date,total_cost,policy_scope_cost,external_ref,disease\n"
                    f"{p.id_number},chronic,1,2024-06-01,1000,1000,T-1,M00501\n", encoding="utf-8")
    first = tasks.import_file(str(path))
    second = tasks.import_file(str(path))
    assert first["ok"] and first["created"] == 1 and second["unchanged"] == 1
    assert Claim.objects.get().basic_paid == D("650.00")  # 1 000 × 65 %


def test_the_nightly_schedule_exists(db):
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.get(name="claims.nightly_ledger_check").task == "claims.check_ledgers"


@pytest.mark.celery_worker
@pytest.mark.postgres
def test_ledger_check_runs_on_a_real_worker(real_worker, shiyan):
    p = f.insured(shiyan)
    f.settle(p, total="12000", on=date(2024, 2, 1))
    tasks.check_ledgers.delay(2024, "2024-12-31")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not LedgerCheck.objects.exists():
        time.sleep(0.3)
    check = LedgerCheck.objects.get()
    assert (check.year, check.ledgers, check.mismatches) == (2024, 1, 0)


def test_the_caps_refresh_beat_task_is_registered_here(shiyan):
    """``members.enrollment_caps_refresh`` (members' beat row) runs claims' refresh, which also
    re-settles what a changed cap settled (claims/tests/test_ledger.py has the worked example)."""
    from celery import current_app

    from claims import tasks

    assert current_app.tasks["members.enrollment_caps_refresh"].run is tasks.enrollment_caps_refresh.run
    assert tasks.enrollment_caps_refresh(2025) == {"year": 2025, "changed": 0, "resettled": 0, "entries": 0}
