"""Issue 12: the rules as the seeds write them — worked examples through the settlement service
(identities, enrolments, registrations and the pack's dates read from the database).

Every figure is the seed's, computed by hand in the docstring.
"""
from datetime import date
from decimal import Decimal as D

import pytest

from members import services as members

from .factories import enrol, identity, insured, person, settle
from members.testing import clerk, reviewer

pytestmark = pytest.mark.django_db


# ── item 1: Yicheng 低保边缘/监测 automatic; the 3 000 threshold on inpatient and chronic together ──
def test_yicheng_monitored_person_is_assisted_without_an_application(yicheng):
    """Issue's example: Yicheng 防止返贫监测 person, inpatient level 2, total 20 000, policy scope
    18 000, platform basic 13 125.  Self-pay after basic 4 875 < 15 000: no critical illness.
    000: 低保边缘/监测 — above 3 000 at 50 %, no application named ⇒ (4 875 − 3 000) × 50 % =
    937.50.  Second round (再救助 above 10 000): 4 875 − 937.50 = 3 937.50 ⇒ 0.
    Out-of-pocket 20 000 − 13 125 − 937.50 = 5 937.50."""
    p = insured(yicheng)
    identity(p, "monitored", source="rural_revitalization")
    c = settle(p, total="20000", scope="18000", basic_paid=D("13125"))
    assert (c.basic_paid, c.critical_paid, c.assistance_paid, c.second_round_paid) == (
        D("13125.00"), D("0.00"), D("937.50"), D("0.00"))
    assert c.out_of_pocket == D("5937.50")
    assert c.assistance_category == 3
    assert c.breakdown["assistance_status"]["source"] == "monitored"


def test_yicheng_marginal_family_member_is_assisted_automatically_too(yicheng):
    """低保边缘家庭成员, same claim ⇒ the same 937.50."""
    p = insured(yicheng)
    identity(p, "marginal")
    assert settle(p, total="20000", scope="18000", basic_paid=D("13125")).assistance_paid == D("937.50")


def test_yicheng_illness_poverty_needs_an_approved_application(yicheng):
    """因病致贫重病患者 on application (000: 依申请): the identity alone assists nothing;
    an approved determination (category 4: above 3 000 at 50 %) pays 937.50."""
    p = insured(yicheng)
    identity(p, "illness_poverty")
    assert settle(p, total="20000", scope="18000", basic_paid=D("13125")).assistance_paid == D("0.00")
    q = insured(yicheng)
    members.entitlement_grant(actor=reviewer(), person=q, kind="determination", category=4, valid_from=date(2024, 1, 1),
                              valid_to=date(2024, 12, 31))
    assert settle(q, total="20000", scope="18000", basic_paid=D("13125")).assistance_paid == D("937.50")


def test_yicheng_chronic_only_year_below_the_threshold_pays_nothing(yicheng):
    """Issue's example: Yicheng 监测 person, chronic-only year, 2 800 self-pay after basic.
    Resident chronic: no deductible, 65 % ⇒ scope 8 000: basic 5 200, self-pay 2 800.
    The 3 000 threshold runs on inpatient and chronic together: 2 800 < 3 000 ⇒ 0.00 (the
    project paid 2 800 × 50 % = 1 400.00).  A second chronic claim, scope 2 000: basic 1 300,
    self-pay 700, cumulative 3 500 ⇒ (3 500 − 3 000) × 50 % = 250.00."""
    from chronic.testing import certify

    p = insured(yicheng)
    identity(p, "monitored")
    certify(p, "M00201", date(2024, 1, 1), None)  # a certified disease: chronic benefits (DOMAIN.md §11)
    first = settle(p, visit_type="chronic", level=1, total="8000", scope="8000", on=date(2024, 3, 1),
                   disease="M00201")
    assert first.basic_paid == D("5200.00") and first.assistance_paid == D("0.00")
    assert "本次计入2800元" in first.explanation
    second = settle(p, visit_type="chronic", level=1, total="2000", scope="2000", on=date(2024, 4, 1),
                    disease="M00201")
    assert second.basic_paid == D("1300.00") and second.assistance_paid == D("250.00")


def test_yicheng_threshold_is_shared_by_chronic_then_inpatient(yicheng):
    """Chronic first (self-pay 2 800 counts 2 800 of the 3 000), then the inpatient claim of the
    first example (self-pay 4 875): only 200 left of the threshold ⇒ (4 875 − 200) × 50 % =
    2 337.50."""
    from chronic.testing import certify

    p = insured(yicheng)
    identity(p, "monitored")
    certify(p, "M00201", date(2024, 1, 1), None)
    settle(p, visit_type="chronic", level=1, total="8000", scope="8000", on=date(2024, 3, 1), disease="M00201")
    c = settle(p, total="20000", scope="18000", basic_paid=D("13125"), on=date(2024, 6, 1))
    assert c.assistance_paid == D("2337.50")


def test_shiyan_category_three_still_needs_an_application(shiyan):
    """Shiyan keeps 004 三(六): categories 3–4 only on application ⇒ a 监测 identity alone
    gets no tier-3 assistance (the transitional 95 % rule is separate: self-pay 4 875 < 5 000)."""
    p = insured(shiyan)
    identity(p, "monitored")
    c = settle(p, total="20000", scope="18000", basic_paid=D("13125"))
    assert c.assistance_paid == D("0.00") and c.second_round_paid == D("0.00")


# ── item 2: effective dates ────────────────────────────────────────────────────────────────
def test_shiyan_employee_outpatient_before_pooling_existed_pays_nothing(shiyan):
    """Issue's example: Shiyan in-service employee, outpatient claim in June 2022, level 2,
    policy scope 1 500.  Pooling (门诊共济) starts 2022-12-31 (004 第二十九条) ⇒ 0.00, and the
    explanation says so (the project paid (1 500 − 500) × 65 % = 650.00).  The same claim on
    2023-01-05 pays 650.00."""
    p = person(shiyan)
    enrol(p, year=2022, scheme="employee", status="in_service")
    c = settle(p, visit_type="outpatient", level=2, total="1500", on=date(2022, 6, 15))
    assert c.basic_paid == D("0.00") and c.out_of_pocket == D("1500.00")
    assert "2022-12-31起施行" in c.explanation
    assert c.breakdown["tiers"]["basic"]["reason"] == "rule_not_in_force"
    enrol(p, year=2023, scheme="employee", status="in_service")
    later = settle(p, visit_type="outpatient", level=2, total="1500", on=date(2023, 1, 5))
    assert later.basic_paid == D("650.00")


def test_shiyan_assistance_before_2022_09_01_settles_without_it(shiyan):
    """Shiyan 低保 (category 2: no deductible, 70 %), inpatient level 2, scope 10 000 on
    2022-06-15: basic (10 000 − 500) × 75 % = 7 125, self-pay 2 875; the assistance rules
    apply from 2022-09-01 (本通知自2022年9月1日起施行) ⇒ assistance 0.00, explained.  The same
    claim on 2022-09-15: 2 875 × 70 % = 2 012.50."""
    p = person(shiyan)
    enrol(p, year=2022)
    identity(p, "subsistence", valid_from=date(2022, 1, 1))
    before = settle(p, total="10000", on=date(2022, 6, 15))
    assert before.basic_paid == D("7125.00") and before.assistance_paid == D("0.00")
    assert "2022-09-01起施行" in before.explanation
    after = settle(p, total="10000", on=date(2022, 9, 15))
    assert after.assistance_paid == D("2012.50")


# ── item 3: care outside the pooling region ─────────────────────────────────────────────────
def test_out_of_region_care_without_referral_or_registration_gets_no_assistance(yicheng):
    """Yicheng 低保 (no deductible, 70 %): inpatient level 2, scope 10 000 elsewhere in the
    province (in_region false), not referred: basic 7 125 (insurance still pays), assistance 0."""
    p = insured(yicheng)
    identity(p, "subsistence")
    c = settle(p, total="10000", in_region=False)
    assert c.basic_paid == D("7125.00") and c.assistance_paid == D("0.00") and c.in_region is False
    assert "统筹区外就医" in c.explanation


def test_out_of_region_care_with_a_valid_registration_counts_as_referred(yicheng):
    """The same claim with a relocation registration (异地安置) valid on the date: 2 875 × 70 %
    = 2 012.50.  A registration that ended before the date does not count."""
    p = insured(yicheng)
    identity(p, "subsistence")
    members.offsite_register(actor=clerk(), person=p, kind="relocation", destination="济南市", valid_from=date(2024, 1, 1),
                             valid_to=date(2024, 12, 31))
    assert settle(p, total="10000", in_region=False).assistance_paid == D("2012.50")
    q = insured(yicheng)
    identity(q, "subsistence")
    members.offsite_register(actor=clerk(), person=q, kind="referral", destination="济南市", hospital="山东省立医院",
                             valid_from=date(2024, 1, 1), valid_to=date(2024, 3, 31))
    assert settle(q, total="10000", in_region=False).assistance_paid == D("0.00")


def test_in_province_registration_does_not_cover_care_out_of_the_province(yicheng):
    """An in-province referral registration does not make out-of-province care referred ⇒ 0."""
    p = insured(yicheng)
    identity(p, "subsistence")
    members.offsite_register(actor=clerk(), person=p, kind="referral", destination="济南市", hospital="山东省立医院",
                             valid_from=date(2024, 1, 1), valid_to=date(2024, 12, 31))
    assert settle(p, total="10000", in_region=False, in_province=False).assistance_paid == D("0.00")


def test_out_of_region_referred_claim_is_assisted(yicheng):
    """Referred on the claim itself ⇒ 2 012.50."""
    p = insured(yicheng)
    identity(p, "subsistence")
    assert settle(p, total="10000", in_region=False, referred=True).assistance_paid == D("2012.50")


# ── in_region through every door: API, import, manual reimbursement ─────────────────────────
def test_api_takes_in_region_and_defaults_to_true(api, staff, yicheng):
    """POST /api/v1/claims/ with in_region false for a 低保 person, not referred: assistance
    0; without the field the same claim is in the city: 2 875 × 70 % = 2 012.50."""
    body = {"visit_type": "inpatient", "hospital_level": 2, "service_date": "2024-06-01",
            "total_cost": "10000.00", "policy_scope_cost": "10000.00"}
    p = insured(yicheng)
    identity(p, "subsistence")
    res = api(staff["clerk"]).post("/api/v1/claims/", {**body, "person": p.id_number, "in_region": False},
                                   format="json")
    assert res.status_code == 201, res.data
    assert res.data["in_region"] is False and res.data["assistance_paid"] == "0.00"
    q = insured(yicheng)
    identity(q, "subsistence")
    res = api(staff["clerk"]).post("/api/v1/claims/", {**body, "person": q.id_number}, format="json")
    assert res.data["in_region"] is True and res.data["assistance_paid"] == "2012.50"


def test_importer_reads_the_in_region_column(yicheng):
    from claims.models import Claim
    from yibao_site.imports import importer_for

    p = insured(yicheng)
    identity(p, "subsistence")
    row = {"person": p.id_number, "visit_type": "住院", "hospital_level": "2", "service_date": "2024-06-01",
           "total_cost": "10000", "policy_scope_cost": "10000", "basic_paid": "7125", "external_ref": "R-1",
           "in_region": "否"}
    report = importer_for("claims")().run([row, {**row, "external_ref": "R-2", "in_region": ""}])
    assert report.ok, report.errors
    by_ref = {c.external_ref: c for c in Claim.objects.all()}
    assert by_ref["R-1"].in_region is False and by_ref["R-1"].assistance_paid == D("0.00")
    assert by_ref["R-2"].in_region is True and by_ref["R-2"].assistance_paid == D("2012.50")


def test_manual_reimbursement_form_has_in_region(client, staff, yicheng):
    from django.urls import reverse

    p = insured(yicheng)
    identity(p, "subsistence")
    client.force_login(staff["clerk"])
    data = {"person": p.id_number, "visit_type": "inpatient", "hospital_level": "2",
            "service_date": "2024-06-01", "admission_date": "", "in_province": "on",
            "bills-TOTAL_FORMS": "1", "bills-INITIAL_FORMS": "0", "bills-MIN_NUM_FORMS": "0",
            "bills-MAX_NUM_FORMS": "30", "bills-0-number": "FP1", "bills-0-total_cost": "10000",
            "bills-0-policy_scope_cost": "10000", "confirm": "0"}
    page = client.get(reverse("admin:claims_claim_manual")).content.decode()
    assert 'name="in_region"' in page
    outside = client.post(reverse("admin:claims_claim_manual"), data)  # in_region unticked
    assert outside.context["preview"].assistance_paid == D("0.00")
    inside = client.post(reverse("admin:claims_claim_manual"), {**data, "in_region": "on"})
    assert inside.context["preview"].assistance_paid == D("2012.50")
