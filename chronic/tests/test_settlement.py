"""Settlement reads certifications (DOMAIN.md §11) and 两病 — worked examples by hand.

Yicheng pack: resident chronic outpatient no deductible, 65 %, annual cap 10 000; resident
ordinary outpatient at level 1 65 %, annual cap 200; 两病 (I10–I15, E10–E14) 75 %; category 1
(特困) chronic assistance 70 %, no deductible.
"""
from datetime import date
from decimal import Decimal as D

import pytest

from chronic import services as chronic_services
from chronic.testing import certify
from claims.models import Claim
from claims.tests import factories as f

pytestmark = pytest.mark.django_db


def chronic(p, code, on, scope="1000", **kw):
    return f.settle(p, visit_type="chronic", level=2, on=on, total=scope, disease=code, **kw)


def test_certified_and_uncertified_chronic_claims_of_the_same_person(yicheng):
    """Certified for hypertension (M00101) all of 2024, not for diabetes (M00201).

    Hypertension claim, scope 1 000: basic 1 000 × 65 % = 650.00, out of pocket 350.00.
    Diabetes claim, scope 1 000: no chronic benefit — basic 0.00, out of pocket 1 000.00, and
    the explanation says the disease is not certified.  The ledger's chronic cap counts 650 only.
    """
    p = f.insured(yicheng)
    certify(p, "M00101", date(2024, 1, 1), date(2024, 12, 31))
    certified = chronic(p, "M00101", date(2024, 3, 1), diagnosis="I10")
    uncertified = chronic(p, "M00201", date(2024, 3, 2), diagnosis="E11.9")
    assert (certified.basic_paid, certified.out_of_pocket) == (D("650.00"), D("350.00"))
    assert (uncertified.basic_paid, uncertified.out_of_pocket) == (D("0.00"), D("1000.00"))
    assert "M00201" in uncertified.explanation and "未经认定" in uncertified.explanation
    assert uncertified.breakdown["chronic"] == {"disease": "M00201", "certified": False}
    assert certified.breakdown["chronic"] == {"disease": "M00101", "certified": True}
    assert not certified.chronic_review and not uncertified.chronic_review
    assert (certified.disease, certified.diagnosis) == ("M00101", "I10")
    assert p.ledgers.get(year=2024).basic_chronic_paid == D("650.00")


def test_a_certification_that_expires_mid_year(yicheng):
    """Valid 2023-07-01 … 2024-06-30.  Claims of 1 000: on 2024-06-30 basic 650.00; on
    2024-07-01 0.00 (lapsed).  Reviewed on 2024-07-05 (lapsed: a new period 2024-07-05 …
    2025-07-04): 2024-07-03 still 0.00, 2024-07-10 650.00 again."""
    p = f.insured(yicheng)
    cert = certify(p, "M00101", date(2023, 7, 1), date(2024, 6, 30))
    assert chronic(p, "M00101", date(2024, 6, 30)).basic_paid == D("650.00")
    assert chronic(p, "M00101", date(2024, 7, 1)).basic_paid == D("0.00")
    reviewer = cert.decided_by
    chronic_services.certification_review(actor=reviewer, certification=cert, on=date(2024, 7, 5))
    cert.refresh_from_db()
    assert (cert.valid_from, cert.valid_to) == (date(2024, 7, 5), date(2025, 7, 4))
    assert chronic(p, "M00101", date(2024, 7, 3)).basic_paid == D("0.00")
    assert chronic(p, "M00101", date(2024, 7, 10)).basic_paid == D("650.00")


def test_revocation_ends_the_benefit_the_day_before(yicheng):
    """Certified 2024-01-01 … 2024-12-31, revoked on 2024-05-01: 2024-04-30 pays 650.00,
    2024-05-01 pays 0.00."""
    p = f.insured(yicheng)
    cert = certify(p, "M00101", date(2024, 1, 1), date(2024, 12, 31))
    chronic_services.certification_revoke(actor=cert.decided_by, certification=cert, reason="复查不符合",
                                          on=date(2024, 5, 1))
    assert chronic(p, "M00101", date(2024, 4, 30)).basic_paid == D("650.00")
    assert chronic(p, "M00101", date(2024, 5, 1)).basic_paid == D("0.00")


def test_two_diseases_claim_at_75_next_to_an_ordinary_outpatient_claim_at_65(yicheng):
    """Resident, level 1, scope 100 each: diagnosis I10 (hypertension) → 100 × 75 % = 75.00;
    diagnosis J06.9 (an ordinary cold) → 100 × 65 % = 65.00; E11.901 (diabetes, national
    extension code) → 75.00 but the annual outpatient cap of 200 leaves 200 − 140 = 60.00."""
    p = f.insured(yicheng)
    two = f.settle(p, visit_type="outpatient", level=1, on=date(2024, 4, 1), total="100", diagnosis="I10")
    ordinary = f.settle(p, visit_type="outpatient", level=1, on=date(2024, 4, 2), total="100", diagnosis="J06.9")
    third = f.settle(p, visit_type="outpatient", level=1, on=date(2024, 4, 3), total="100", diagnosis="e11.901")
    assert two.basic_paid == D("75.00") and two.breakdown["tiers"]["basic"]["two_diseases"] is True
    assert "两病" in two.explanation and "75%" in two.explanation
    assert ordinary.basic_paid == D("65.00") and "two_diseases" not in ordinary.breakdown["tiers"]["basic"]
    assert third.basic_paid == D("60.00") and third.diagnosis == "E11.901"


def test_two_diseases_is_for_residents_only_and_not_in_shiyan(yicheng, shiyan):
    """Shiyan sets no 两病 rate (null): an I10 outpatient claim at level 1 pays the ordinary
    rate of the pack (65 %): 100 × 65 % = 65.00."""
    p = f.insured(shiyan)
    assert f.settle(p, visit_type="outpatient", level=1, on=date(2024, 4, 1), total="100",
                    diagnosis="I10").basic_paid == D("65.00")


def test_platform_settled_uncertified_claim_is_taken_but_flagged_and_gets_no_chronic_assistance(yicheng):
    """特困 (category 1).  Platform basic 650 of scope 1 000 each.
    Certified (M00101): assistance 350 × 70 % = 245.00, out of pocket 105.00, not flagged.
    Uncertified (M00201): basic 650.00 taken as settled, assistance 0.00, out of pocket 350.00,
    flagged for review."""
    p = f.insured(yicheng)
    f.identity(p, "extreme_poverty")
    certify(p, "M00101", date(2024, 1, 1), date(2024, 12, 31))
    ok = chronic(p, "M00101", date(2024, 3, 1), basic_paid=D("650"), critical_paid=D("0"))
    bad = chronic(p, "M00201", date(2024, 3, 2), basic_paid=D("650"), critical_paid=D("0"))
    assert (ok.basic_paid, ok.assistance_paid, ok.out_of_pocket, ok.chronic_review) == (
        D("650.00"), D("245.00"), D("105.00"), False)
    assert (bad.basic_paid, bad.assistance_paid, bad.out_of_pocket, bad.chronic_review) == (
        D("650.00"), D("0.00"), D("350.00"), True)
    assert "待复核" in bad.explanation and "不享受门诊慢特病医疗救助" in bad.explanation
    assert list(Claim.objects.filter(chronic_review=True)) == [bad]


def test_bureau_computed_uncertified_claim_of_an_assistance_object_gets_nothing(yicheng):
    """特困, no certification, scope 1 000, bureau computes: basic 0, critical 0, assistance 0,
    second round 0: out of pocket 1 000.00."""
    p = f.insured(yicheng)
    f.identity(p, "extreme_poverty")
    claim = chronic(p, "M00101", date(2024, 3, 1))
    assert (claim.basic_paid, claim.critical_paid, claim.assistance_paid, claim.second_round_paid,
            claim.out_of_pocket) == (D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("1000.00"))


def test_a_chronic_claim_without_disease_or_with_an_unknown_one(yicheng):
    from django.core.exceptions import ValidationError

    p = f.insured(yicheng)
    claim = chronic(p, "", date(2024, 3, 1))
    assert claim.basic_paid == D("0.00") and "未填写门诊慢特病病种" in claim.explanation
    with pytest.raises(ValidationError) as exc:
        chronic(p, "X99", date(2024, 3, 1))
    assert "disease" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        f.settle(p, visit_type="outpatient", level=1, on=date(2024, 3, 1), total="10", disease="M00101")
    assert "disease" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        f.settle(p, visit_type="outpatient", level=1, on=date(2024, 3, 1), total="10", diagnosis="高血压")
    assert "diagnosis" in exc.value.message_dict


def test_batch_loads_certifications_in_one_query(yicheng, django_assert_max_num_queries):
    """A batch of chronic claims for many persons reads certifications once, not per claim."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from claims import services

    people = [f.insured(yicheng) for _ in range(6)]
    for p in people[:3]:
        certify(p, "M00101", date(2024, 1, 1), date(2024, 12, 31))
    inputs = [services.ClaimInput(person_id=p.pk, visit_type="chronic", hospital_level=2,
                                  service_date=date(2024, 5, 1 + i), total_cost=D("100"), policy_scope_cost=D("100"),
                                  disease="M00101") for i, p in enumerate(people)]
    with CaptureQueriesContext(connection) as ctx:
        saved = services.claims_settle_batch(inputs=inputs, actor=f.clerk())
    cert_queries = [q for q in ctx.captured_queries if "chronic_certification" in q["sql"]]
    assert len(cert_queries) == 1
    assert [c.basic_paid for c in saved] == [D("65.00")] * 3 + [D("0.00")] * 3
