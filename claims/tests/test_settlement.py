"""Settlement through the service: ledger, coverage, assistance status from members data."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from claims import selectors, services
from claims.models import Claim, ClaimStatus, PersonYearLedger
from claims.rules import LEDGER_FIELDS
from members.models import Enrollment

from . import factories as f


def ledger(p, year=2024):
    return PersonYearLedger.objects.get(person=p, year=year)


def test_ledger_model_keeps_every_rules_field(db):
    names = {fl.name for fl in PersonYearLedger._meta.get_fields()}
    assert set(LEDGER_FIELDS) <= names


def test_a_settled_claim_keeps_breakdown_policy_version_and_explanation(shiyan):
    """Shiyan resident, level 2, scope 12 000, total 15 000: basic (12 000 − 500) × 75 % = 8 625,
    out-of-pocket 6 375 (in June)."""
    p = f.insured(shiyan)
    claim = f.settle(p, total="15000", scope="12000")
    assert (claim.basic_paid, claim.critical_paid, claim.assistance_paid, claim.second_round_paid,
            claim.out_of_pocket) == (D("8625.00"), 0, 0, 0, D("6375.00"))
    assert claim.year == 2024 and claim.scheme == "resident" and claim.status == ClaimStatus.SETTLED
    assert claim.policy_version.startswith("shiyan-2022#")
    assert claim.breakdown["policy"]["basic.resident.inpatient.deductible.l2"]["value"] == "500"
    assert claim.breakdown["tiers"]["basic"]["paid"] == "8625.00"
    assert "住院起付线500元" in claim.explanation and "报销比例75%" in claim.explanation
    row = ledger(p)
    assert row.out_of_pocket == row.oop_m06 == D("6375.00") and row.claims_count == 1
    assert row.basic_inpatient_paid == D("8625.00")
    assert Enrollment.objects.get(person=p, year=2024).had_fund_payment is True
    assert selectors.year_to_date_out_of_pocket([p.pk], 2024, 5) == {p.pk: D("0.00")}
    assert selectors.year_to_date_out_of_pocket([p.pk], 2024, 6) == {p.pk: D("6375.00")}


def test_second_claim_does_not_pay_the_annual_deductible_again(shiyan):
    """Employee in service (Shiyan 门诊共济, deductible 500): 400 at level 1 → 0; then 300 at
    level 1 → (300 − 100) × 80 % = 160."""
    p = f.insured(shiyan, scheme="employee", status="in_service")
    a = f.settle(p, visit_type="outpatient", level=1, total="400", on=date(2024, 3, 1))
    b = f.settle(p, visit_type="outpatient", level=1, total="300", on=date(2024, 4, 1))
    assert (a.basic_paid, b.basic_paid) == (0, D("160.00"))
    assert ledger(p).basic_outpatient_base == D("700.00")


def test_identity_category_1_is_assisted_automatically(shiyan):
    """Shiyan 特困 (category 1, 100 %): level 2 scope 10 000 total 11 000 → basic 7 125,
    assistance 2 875, out-of-pocket 1 000."""
    p = f.insured(shiyan)
    f.identity(p, "extreme_poverty")
    claim = f.settle(p, total="11000", scope="10000")
    assert (claim.assistance_paid, claim.out_of_pocket, claim.assistance_category) == (D("2875.00"), D("1000.00"), 1)
    assert claim.breakdown["assistance_status"]["source"] == "extreme_poverty"
    assert "assistance.category.extreme_poverty" in claim.breakdown["policy"]


def test_category_3_identity_needs_an_approved_determination(shiyan):
    """Shiyan 低保边缘 (category 3) without a determination: no assistance.  With one
    (category 3: deductible 1 500, 65 %): scope 20 000 level 2 → basic 14 625, left 5 375,
    assistance (5 375 − 1 500) × 65 % = 2 518.75."""
    p = f.insured(shiyan)
    f.identity(p, "marginal")
    assert f.settle(p, total="20000", on=date(2024, 2, 1)).assistance_paid == 0
    q = f.insured(shiyan)
    f.identity(q, "marginal")
    f.grant(q, "determination", category=3)
    claim = f.settle(q, total="20000", on=date(2024, 2, 1))
    assert claim.assistance_paid == D("2518.75")
    assert claim.breakdown["assistance_status"]["source"] == "determination"


def test_identity_outside_its_validity_or_revoked_entitlement_does_not_count(shiyan):
    from members.services import entitlement_revoke

    p = f.insured(shiyan)
    f.identity(p, "extreme_poverty", valid_from=date(2023, 1, 1), valid_to=date(2024, 3, 31))
    assert f.settle(p, total="10000", on=date(2024, 3, 31)).assistance_paid > 0
    assert f.settle(p, total="10000", on=date(2024, 4, 1)).assistance_paid == 0
    q = f.insured(shiyan)
    ent = f.grant(q, "determination", category=4)
    entitlement_revoke(entitlement=ent, on=date(2024, 5, 1))
    status = selectors.assistance_status_for(q, date(2024, 4, 30))
    assert status.category == 4
    assert selectors.assistance_status_for(q, date(2024, 5, 1)).category is None


def test_highest_category_wins(shiyan):
    p = f.insured(shiyan)
    f.identity(p, "subsistence")          # category 2
    f.identity(p, "extreme_poverty")      # category 1
    f.grant(p, "determination", category=4)
    status = selectors.assistance_status_for(p, date(2024, 6, 1))
    assert (status.category, status.category_source) == (1, "extreme_poverty")


def test_shiyan_transitional_rule_is_automatic_for_monitored_persons(shiyan):
    """Shiyan 监测对象 (no determination → no tier 3) — transitional 95 % above 5 000.
    Level 3 scope = total = 30 000: basic 29 000 × 60 % = 17 400; left 12 600 (< 15 000 no
    critical); transitional (12 600 − 5 000) × 95 % = 7 220; out-of-pocket 5 380."""
    p = f.insured(shiyan)
    f.identity(p, "monitored", source="rural_revitalization")
    claim = f.settle(p, level=3, total="30000")
    assert (claim.basic_paid, claim.assistance_paid, claim.second_round_paid, claim.out_of_pocket) == (
        D("17400.00"), 0, D("7220.00"), D("5380.00"))
    assert "过渡期倾斜救助" in claim.explanation


def test_shiyan_tilt_needs_the_approved_application(shiyan):
    """Same claim as the worked example in test_rules: tilt pays (15 640 − 5 000) × 50 % = 5 320."""
    p = f.insured(shiyan)
    assert f.settle(p, level=3, total="40000", referred=True, on=date(2024, 1, 20)).second_round_paid == 0
    q = f.insured(shiyan)
    f.grant(q, "tilt")
    assert f.settle(q, level=3, total="40000", referred=True).second_round_paid == D("5320.00")


def test_yicheng_subsistence_gets_assistance_and_reassistance(yicheng):
    """Yicheng 低保 (category 2): level 2 scope 40 000, total 42 000 → basic 29 625, assistance
    10 375 × 70 % = 7 262.50, left 3 112.50 (< 5 000, no 再救助).  Level 3, scope 100 000 →
    basic 59 400, critical 21 585, assistance 13 310.50, 再救助 2 671.90 (see test_rules)."""
    p = f.insured(yicheng)
    f.identity(p, "subsistence")
    a = f.settle(p, total="42000", scope="40000", on=date(2024, 3, 1))
    b = f.settle(p, level=3, total="100000", on=date(2024, 5, 1))
    assert (a.assistance_paid, a.second_round_paid) == (D("7262.50"), 0)
    assert (b.critical_paid, b.assistance_paid, b.second_round_paid, b.out_of_pocket) == (
        D("21585.00"), D("13310.50"), D("2671.90"), D("3032.60"))
    assert b.policy_version.startswith("yicheng-2024#")


def test_waiting_period_pays_no_insurance(yicheng):
    """Yicheng 2025: paid on 2025-03-10, outside the collection period → benefits from
    2025-06-10 (3 months).  A May claim gets nothing from the insurance funds."""
    p = f.person(yicheng)
    enrolment = f.enrol(p, year=2025, paid_on=date(2025, 3, 10))
    assert enrolment.waiting_period and enrolment.benefit_start > date(2025, 5, 20)
    claim = f.settle(p, total="9000", on=date(2025, 5, 20))
    assert (claim.basic_paid, claim.critical_paid, claim.out_of_pocket) == (0, 0, D("9000.00"))
    assert claim.breakdown["coverage"]["covered"] is False and "等待期" in claim.explanation
    assert Enrollment.objects.get(pk=enrolment.pk).had_fund_payment is False
    later = f.settle(p, total="9000", on=enrolment.benefit_start)
    assert later.basic_paid == D("6375.00")  # (9 000 − 500) × 75 %


def test_a_person_without_enrolment_cannot_be_settled(shiyan):
    p = f.person(shiyan)
    with pytest.raises(ValidationError) as err:
        f.settle(p, total="100")
    assert "person" in err.value.message_dict
    assert not Claim.objects.exists() and not PersonYearLedger.objects.exists()


@pytest.mark.parametrize("kwargs, field", [
    ({"total": "100", "scope": "200"}, "policy_scope_cost"),
    ({"total": "-1"}, "total_cost"),
    ({"level": 4, "total": "100"}, "hospital_level"),
    ({"visit_type": "dental", "total": "100"}, "visit_type"),
    ({"on": date(2999, 1, 1), "total": "100"}, "service_date"),
    ({"total": "100", "basic_paid": D("90"), "critical_paid": D("20")}, "basic_paid"),
    ({"visit_type": "outpatient", "total": "100", "admission_date": date(2024, 5, 1)}, "admission_date"),
])
def test_bad_input_is_a_field_error_and_writes_nothing(shiyan, kwargs, field):
    p = f.insured(shiyan)
    with pytest.raises(ValidationError) as err:
        f.settle(p, **kwargs)
    assert field in err.value.message_dict
    assert not Claim.objects.exists()


def test_reversal_restores_the_ledger_exactly_and_writes_a_negative_entry(shiyan):
    p = f.insured(shiyan)
    f.identity(p, "subsistence")
    f.settle(p, total="12000", on=date(2024, 2, 1))
    before = {name: getattr(ledger(p), name) for name in (*LEDGER_FIELDS, "claims_count")}
    claim = f.settle(p, level=3, total="60000", on=date(2024, 4, 1))
    assert ledger(p).critical_paid > 0
    reversal = services.claim_reverse(claim=claim, reason="医院退费", actor=f.clerk())
    after = {name: getattr(ledger(p), name) for name in (*LEDGER_FIELDS, "claims_count")}
    assert after == before
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REVERSED and reversal.status == ClaimStatus.REVERSAL
    assert reversal.reversal_of == claim and reversal.basic_paid == -claim.basic_paid
    assert "医院退费" in reversal.explanation
    with pytest.raises(ValidationError):
        services.claim_reverse(claim=claim, actor=f.clerk())
    with pytest.raises(ValidationError):
        services.claim_reverse(claim=reversal, actor=f.clerk())


def test_reversing_the_only_claim_clears_the_fund_payment_flag(shiyan):
    p = f.insured(shiyan)
    claim = f.settle(p, total="5000")
    services.claim_reverse(claim=claim, actor=f.clerk())
    assert Enrollment.objects.get(person=p).had_fund_payment is False
    assert all(getattr(ledger(p), name) == 0 for name in LEDGER_FIELDS)


def test_correction_is_a_reversal_plus_a_new_claim(shiyan):
    p = f.insured(shiyan)
    claim = f.settle(p, total="12000")
    new = services.claim_correct(claim=claim, actor=f.clerk(), total_cost=D("10000"), policy_scope_cost=D("10000"), reason="金额录错")
    assert new.basic_paid == D("7125.00")  # (10 000 − 500) × 75 %
    assert ledger(p).basic_inpatient_paid == D("7125.00") and ledger(p).claims_count == 1
    assert Claim.objects.filter(person=p).count() == 3


def test_a_batch_settles_in_service_date_order(shiyan):
    """Given out of order, the March claim (400) consumes the 500 deductible before the April
    one: April (300) → (300 − 100) × 80 % = 160; March → 0."""
    p = f.insured(shiyan, scheme="employee", status="in_service")
    inputs = [services.ClaimInput(person_id=p.pk, visit_type="outpatient", hospital_level=1, service_date=d,
                                  total_cost=D(t), policy_scope_cost=D(t))
              for d, t in ((date(2024, 4, 1), "300"), (date(2024, 3, 1), "400"))]
    april, march = services.claims_settle_batch(inputs=inputs, actor=f.clerk())
    assert (march.basic_paid, april.basic_paid) == (0, D("160.00"))


def test_a_batch_with_one_bad_claim_writes_nothing(shiyan):
    p = f.insured(shiyan)
    nobody = f.person(shiyan)
    inputs = [services.ClaimInput(person_id=pid, visit_type="inpatient", hospital_level=2,
                                  service_date=date(2024, 5, 1), total_cost=D("1000"), policy_scope_cost=D("1000"),
                                  ref=n)
              for n, pid in ((2, p.pk), (3, nobody.pk))]
    with pytest.raises(services.BatchError) as err:
        services.claims_settle_batch(inputs=inputs, actor=f.clerk())
    assert list(err.value.by_ref) == [3]
    assert not Claim.objects.exists() and PersonYearLedger.objects.filter(claims_count__gt=0).count() == 0


def test_no_outpatient_pooling_during_a_settled_inpatient_stay(shiyan):
    p = f.insured(shiyan, scheme="employee", status="retired")
    f.settle(p, total="5000", admission_date=date(2024, 5, 20), on=date(2024, 6, 1))
    during = f.settle(p, visit_type="outpatient", level=1, total="900", on=date(2024, 5, 25))
    after = f.settle(p, visit_type="outpatient", level=1, total="900", on=date(2024, 6, 5))
    assert during.basic_paid == 0 and "住院期间" in during.explanation
    assert after.basic_paid == D("360.00")  # (900 − 500) × 90 %


def test_platform_amounts_are_kept_and_the_bureau_computes_the_rest(shiyan):
    """Platform: basic 6 000 critical 0 of scope 10 000; Shiyan 低保 (70 %) → 4 000 × 70 % = 2 800."""
    p = f.insured(shiyan)
    f.identity(p, "subsistence")
    claim = f.settle(p, total="10500", scope="10000", basic_paid=D("6000"), critical_paid=D("0"), external_ref="H-1")
    assert (claim.basic_paid, claim.assistance_paid, claim.out_of_pocket) == (D("6000.00"), D("2800.00"), D("1700.00"))
    assert claim.platform_settled
    with pytest.raises(ValidationError) as err:
        f.settle(p, total="100", external_ref="H-1")
    assert "external_ref" in err.value.message_dict


def test_preview_computes_without_writing(shiyan):
    p = f.insured(shiyan)
    claim = services.claim_preview(person=p, visit_type="inpatient", hospital_level=2, service_date=date(2024, 6, 1),
                                   total_cost=D("15000"), policy_scope_cost=D("12000"))
    assert claim.pk is None and claim.basic_paid == D("8625.00")
    assert not Claim.objects.exists() and not PersonYearLedger.objects.exists()
