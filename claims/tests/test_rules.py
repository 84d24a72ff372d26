"""Worked examples of the settlement chain, computed by hand from the two seed packs.

No database: the policy comes straight from the pack files (tests/packs.py).
"""
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from claims import rules
from claims.rules import AssistanceStatus, ClaimFacts, apply_delta, empty_ledger, settle

from .packs import pack_snapshot

SHIYAN, YICHENG = "shiyan-2022", "yicheng-2024"


def facts(**kw):
    base = dict(scheme="resident", visit_type="inpatient", hospital_level=2, service_month=6,
                total_cost=D("0"), policy_scope_cost=D("0"))
    base.update(kw)
    for key in ("total_cost", "policy_scope_cost", "basic_given", "critical_given", "critical_cap"):
        if isinstance(base.get(key), (int, str)):
            base[key] = D(str(base[key]))
    return ClaimFacts(**base)


def run(pack, claims, ledger=None, **overrides):
    """Settle ``claims`` in order on one ledger; return the settlements and the ledger."""
    policy = pack_snapshot(pack, **overrides)
    ledger = ledger or empty_ledger()
    out = []
    for f in claims:
        s = settle(policy, f, ledger)
        apply_delta(ledger, s.delta)
        out.append(s)
    return out, ledger


def amounts(s):
    return (s.basic.paid, s.critical.paid, s.assistance.paid, s.second_round.paid, s.out_of_pocket)


@pytest.mark.parametrize("pack", [SHIYAN, YICHENG])
def test_resident_inpatient_then_a_second_admission_crosses_the_critical_threshold(pack):
    """Both packs carry DOMAIN's resident defaults.

    Claim 1, level 2, scope 12 000, total 15 000: basic (12 000 − 500) × 75 % = 8 625;
    self-pay after basic 3 375 < 15 000 → no critical; out-of-pocket 15 000 − 8 625 = 6 375.
    Claim 2, level 3, scope 50 000, total 55 000: basic (50 000 − 1 000) × 60 % = 29 400;
    left 20 600, cumulative 3 375 + 20 600 = 23 975, above 15 000: 8 975 × 60 % = 5 385;
    out-of-pocket 55 000 − 29 400 − 5 385 = 20 215.
    """
    (s1, s2), ledger = run(pack, [
        facts(policy_scope_cost=12000, total_cost=15000),
        facts(hospital_level=3, policy_scope_cost=50000, total_cost=55000, service_month=8),
    ])
    assert amounts(s1) == (D("8625.00"), 0, 0, 0, D("6375.00"))
    assert amounts(s2) == (D("29400.00"), D("5385.00"), 0, 0, D("20215.00"))
    assert ledger["out_of_pocket"] == D("26590.00")
    assert ledger["oop_m06"] == D("6375.00") and ledger["oop_m08"] == D("20215.00")
    assert ledger["critical_base"] == D("23975.00") and ledger["basic_inpatient_paid"] == D("38025.00")
    assert "住院起付线500元" in s1.explanation and "报销比例75%" in s1.explanation


def test_inpatient_deductible_is_per_admission_and_larger_than_a_small_bill():
    """Level 3 scope 600 < deductible 1 000: basic pays 0, the person pays 600."""
    (s,), _ = run(SHIYAN, [facts(hospital_level=3, policy_scope_cost=600, total_cost=600)])
    assert amounts(s) == (0, 0, 0, 0, D("600.00"))


def test_employee_inpatient_has_no_critical_tier_without_a_pack_definition():
    """Employee in service, level 3, scope 10 000, total 12 000: (10 000 − 800) × 85 % = 7 820;
    no critical.employee.* keys → no tier 2; out-of-pocket 12 000 − 7 820 = 4 180."""
    (s,), _ = run(SHIYAN, [facts(scheme="employee", employee_status="in_service", hospital_level=3,
                                 policy_scope_cost=30000, total_cost=32000)])
    assert s.basic.paid == D("24820.00")  # (30 000 − 800) × 85 %
    (s,), _ = run(SHIYAN, [facts(scheme="employee", employee_status="in_service", hospital_level=3,
                                 policy_scope_cost=10000, total_cost=12000)])
    assert amounts(s) == (D("7820.00"), 0, 0, 0, D("4180.00"))


def test_resident_outpatient_cap_of_200_holds_across_claims():
    """Level 1 outpatient, 65 %, cap 200: 250 → 162.50; 100 → 65 but only 37.50 left; 80 → 0."""
    (a, b, c), ledger = run(SHIYAN, [facts(visit_type="outpatient", hospital_level=1, policy_scope_cost=s,
                                           total_cost=s) for s in (250, 100, 80)])
    assert [a.basic.paid, b.basic.paid, c.basic.paid] == [D("162.50"), D("37.50"), 0]
    assert ledger["basic_outpatient_paid"] == D("200.00")
    assert "年度限额200元" in b.explanation


def test_resident_outpatient_at_level_2_is_not_pooled():
    (s,), _ = run(SHIYAN, [facts(visit_type="outpatient", hospital_level=2, policy_scope_cost=300, total_cost=300)])
    assert s.basic.paid == 0 and s.out_of_pocket == D("300.00")


def test_employee_outpatient_pooling_annual_deductible_is_paid_once():
    """Shiyan 门诊共济: deductible 500 a year.  In service: level 1 scope 400 → all under the
    deductible, 0; level 3 scope 300 → 100 left of the deductible, (300 − 100) × 50 % = 100;
    level 2 scope 1 000 → (1 000) × 65 % = 650."""
    (a, b, c), ledger = run(SHIYAN, [
        facts(scheme="employee", employee_status="in_service", visit_type="outpatient", hospital_level=1,
              policy_scope_cost=400, total_cost=400),
        facts(scheme="employee", employee_status="in_service", visit_type="outpatient", hospital_level=3,
              policy_scope_cost=300, total_cost=300),
        facts(scheme="employee", employee_status="in_service", visit_type="outpatient", hospital_level=2,
              policy_scope_cost=1000, total_cost=1000),
    ])
    assert [a.basic.paid, b.basic.paid, c.basic.paid] == [0, D("100.00"), D("650.00")]
    assert ledger["basic_outpatient_base"] == D("1700.00")


def test_retired_employee_outpatient_pooling_rate_and_the_3000_cap():
    """Retired, level 1 (90 %): scope 4 000 → (4 000 − 500) × 90 % = 3 150, capped at 3 000;
    the next claim pays 0."""
    (a, b), _ = run(YICHENG, [
        facts(scheme="employee", employee_status="retired", visit_type="outpatient", hospital_level=1,
              policy_scope_cost=4000, total_cost=4000),
        facts(scheme="employee", employee_status="retired", visit_type="outpatient", hospital_level=1,
              policy_scope_cost=100, total_cost=100),
    ])
    assert a.basic.paid == D("3000.00") and b.basic.paid == 0


def test_no_outpatient_pooling_while_an_inpatient_stay_is_open():
    (s,), _ = run(SHIYAN, [facts(scheme="employee", employee_status="retired", visit_type="outpatient",
                                 hospital_level=1, policy_scope_cost=900, total_cost=900, inpatient_stay_open=True)])
    assert s.basic.paid == 0 and "住院期间" in s.explanation


def test_waiting_period_pays_no_insurance_and_ordinary_person_pays_all():
    (s,), ledger = run(SHIYAN, [facts(covered=False, policy_scope_cost=8000, total_cost=9000)])
    assert amounts(s) == (0, 0, 0, 0, D("9000.00"))
    assert ledger["basic_inpatient_base"] == 0  # the waiting period does not count toward anything
    assert "等待期" in s.explanation


def test_waiting_period_assistance_object_is_still_assisted_on_the_whole_scope():
    """Shiyan category 1 (100 %), not covered: assistance pays the whole scope 8 000."""
    (s,), _ = run(SHIYAN, [facts(covered=False, policy_scope_cost=8000, total_cost=9000,
                                 assistance=AssistanceStatus(category=1))])
    assert amounts(s) == (0, 0, D("8000.00"), 0, D("1000.00"))
    (s,), _ = run(SHIYAN, [facts(covered=False, policy_scope_cost=8000, total_cost=9000,
                                 assistance=AssistanceStatus(category=1))],
                  assistance__outside_benefit_period=False)
    assert s.assistance.paid == 0


def test_shiyan_category_1_is_assisted_100_percent():
    """Level 2, scope 10 000, total 11 000: basic 9 500 × 75 % = 7 125; left 2 875 all assisted;
    out-of-pocket = the 1 000 outside the policy scope."""
    (s,), _ = run(SHIYAN, [facts(policy_scope_cost=10000, total_cost=11000, assistance=AssistanceStatus(category=1))])
    assert amounts(s) == (D("7125.00"), 0, D("2875.00"), 0, D("1000.00"))
    assert "1类救助对象" in s.explanation and "救助比例100%" in s.explanation


def test_out_of_province_care_without_referral_gets_no_assistance():
    (s,), _ = run(SHIYAN, [facts(policy_scope_cost=10000, total_cost=11000, in_province=False, referred=False,
                                 assistance=AssistanceStatus(category=1))])
    assert s.assistance.paid == 0 and "统筹区外就医,未按规定转诊" in s.explanation
    (s,), _ = run(SHIYAN, [facts(policy_scope_cost=10000, total_cost=11000, in_province=False, referred=True,
                                 assistance=AssistanceStatus(category=1))])
    assert s.assistance.paid == D("2875.00")


def test_shiyan_category_3_deductible_once_and_the_transitional_95_percent():
    """Monitored object with an approved determination (category 3: annual deductible 1 500,
    65 %) — also under the transitional rule (95 % above 5 000, no cap).

    Claim 1, level 2, scope 20 000, total 22 000: basic 19 500 × 75 % = 14 625; left 5 375
    (< 15 000, no critical); assistance (5 375 − 1 500) × 65 % = 2 518.75; left 2 856.25,
    cumulative below 5 000 → no second round; out-of-pocket 22 000 − 14 625 − 2 518.75 = 4 856.25.
    Claim 2, level 3, scope = total = 30 000: basic 29 000 × 60 % = 17 400; left 12 600;
    critical: cumulative 5 375 → 17 975, (17 975 − 15 000) × 60 % = 1 785; left 10 815;
    assistance (deductible already met) 10 815 × 65 % = 7 029.75; left 3 785.25; transitional:
    cumulative 2 856.25 → 6 641.50, (6 641.50 − 5 000) × 95 % = 1 559.425 → 1 559.43;
    out-of-pocket 3 785.25 − 1 559.43 = 2 225.82.
    """
    status = AssistanceStatus(category=3, category_source="determination", transitional_kinds=("monitored",))
    (a, b), ledger = run(SHIYAN, [
        facts(policy_scope_cost=20000, total_cost=22000, assistance=status),
        facts(hospital_level=3, policy_scope_cost=30000, total_cost=30000, assistance=status, service_month=7),
    ])
    assert amounts(a) == (D("14625.00"), 0, D("2518.75"), 0, D("4856.25"))
    assert amounts(b) == (D("17400.00"), D("1785.00"), D("7029.75"), D("1559.43"), D("2225.82"))
    assert ledger["assistance_paid"] == D("9548.50")
    assert "年度救助起付线1500元(本次计入1500元)" in a.explanation
    assert "过渡期倾斜救助" in b.explanation and "95%" in b.explanation


def test_shiyan_tilt_needs_an_entitlement_and_in_province_referred_care():
    """Tilt entitlement, no category.  Level 3, scope = total = 40 000: basic 39 000 × 60 % =
    23 400; left 16 600, critical (16 600 − 15 000) × 60 % = 960; left 15 640; tilt
    (15 640 − 5 000) × 50 % = 5 320; out-of-pocket 15 640 − 5 320 = 10 320."""
    claim = dict(hospital_level=3, policy_scope_cost=40000, total_cost=40000, assistance=AssistanceStatus(tilt=True))
    (s,), _ = run(SHIYAN, [facts(**claim, referred=True)])
    assert amounts(s) == (D("23400.00"), D("960.00"), 0, D("5320.00"), D("10320.00"))
    (s,), _ = run(SHIYAN, [facts(**claim, referred=False)])
    assert s.second_round.paid == 0
    (s,), _ = run(SHIYAN, [facts(hospital_level=3, policy_scope_cost=40000, total_cost=40000, referred=True)])
    assert s.second_round.paid == 0  # no entitlement


def test_yicheng_category_1_with_automatic_reassistance():
    """Yicheng 特困 (category 1): 70 %, no deductible, cap 30 000; 再救助 70 % above 5 000.

    Claim 1, level 2, scope 40 000, total 42 000: basic 39 500 × 75 % = 29 625; left 10 375
    (< 15 000); assistance 7 262.50; left 3 112.50 (< 5 000); out-of-pocket 42 000 − 29 625 −
    7 262.50 = 5 112.50.
    Claim 2, level 3, scope = total = 100 000: basic 99 000 × 60 % = 59 400; left 40 600;
    critical 10 375 → 50 975: (50 975 − 15 000) × 60 % = 21 585; left 19 015; assistance
    19 015 × 70 % = 13 310.50; left 5 704.50; 再救助 3 112.50 → 8 817: (8 817 − 5 000) × 70 % =
    2 671.90; out-of-pocket 5 704.50 − 2 671.90 = 3 032.60.
    """
    status = AssistanceStatus(category=1, category_source="extreme_poverty")
    (a, b), _ = run(YICHENG, [
        facts(policy_scope_cost=40000, total_cost=42000, assistance=status),
        facts(hospital_level=3, policy_scope_cost=100000, total_cost=100000, assistance=status),
    ])
    assert amounts(a) == (D("29625.00"), 0, D("7262.50"), 0, D("5112.50"))
    assert amounts(b) == (D("59400.00"), D("21585.00"), D("13310.50"), D("2671.90"), D("3032.60"))
    assert "再救助" in b.explanation


def test_yicheng_chronic_shares_the_assistance_cap_and_reaches_it():
    """Yicheng 低保 (category 2), chronic outpatient (basic 65 %, cap 10 000; assistance 70 %,
    shared cap 30 000; 再救助 above 5 000 at 70 %).

    1) scope = total = 50 000: basic 32 500 capped at 10 000; left 40 000; critical (40 000 −
       15 000) × 60 % = 15 000; left 25 000; assistance 17 500; left 7 500; 再救助 2 500 × 70 %
       = 1 750; out-of-pocket 5 750.
    2) 30 000: basic 0 (cap used); critical 40 000 → 70 000: 55 000 × 60 % − 15 000 = 18 000;
       left 12 000; assistance 8 400 (17 500 used); left 3 600; 再救助 7 500 → 11 100:
       6 100 × 70 % − 1 750 = 2 520; out-of-pocket 1 080.
    3) 20 000: critical 70 000 → 90 000: 75 000 × 60 % − 33 000 = 12 000; left 8 000; assistance
       by rate 5 600 but only 30 000 − 25 900 = 4 100 left of the cap; left 3 900; 再救助
       11 100 → 15 000: 10 000 × 70 % − 4 270 = 2 730; out-of-pocket 1 170.
    """
    status = AssistanceStatus(category=2, category_source="subsistence")
    claims = [facts(visit_type="chronic", policy_scope_cost=s, total_cost=s, assistance=status)
              for s in (50000, 30000, 20000)]
    (a, b, c), ledger = run(YICHENG, claims)
    assert amounts(a) == (D("10000.00"), D("15000.00"), D("17500.00"), D("1750.00"), D("5750.00"))
    assert amounts(b) == (0, D("18000.00"), D("8400.00"), D("2520.00"), D("1080.00"))
    assert amounts(c) == (0, D("12000.00"), D("4100.00"), D("2730.00"), D("1170.00"))
    assert ledger["assistance_paid"] == D("30000.00")
    assert "年度救助限额30000元" in c.explanation


def test_yicheng_category_3_assistance_deductible_3000():
    """Yicheng 低保边缘 with determination (category 3): deductible 3 000, 50 %.
    Level 1, scope 10 000, total 10 000: basic (10 000 − 200) × 85 % = 8 330; left 1 670, all
    under the assistance deductible → 0.  Then level 1 scope 20 000: basic 19 800 × 85 % =
    16 830; left 3 170; deductible: 1 330 left → (3 170 − 1 330) × 50 % = 920."""
    status = AssistanceStatus(category=3, category_source="determination")
    (a, b), _ = run(YICHENG, [facts(hospital_level=1, policy_scope_cost=s, total_cost=s, assistance=status)
                              for s in (10000, 20000)])
    assert a.assistance.paid == 0 and b.assistance.paid == D("920.00")


def test_ordinary_outpatient_gets_no_assistance():
    (s,), _ = run(YICHENG, [facts(visit_type="outpatient", hospital_level=1, policy_scope_cost=100, total_cost=100,
                                  assistance=AssistanceStatus(category=1))])
    assert s.basic.paid == D("65.00") and s.assistance.paid == 0


def test_critical_cap_of_the_enrolment_with_incentives_is_used():
    """Critical by rate (45 000 − 15 000) × 60 % = 18 000, but the enrolment's cap is 10 000."""
    (s,), _ = run(SHIYAN, [facts(hospital_level=3, policy_scope_cost=D("112500"), total_cost=D("112500"),
                                 critical_cap=D("10000"))])
    # basic (112 500 − 1 000) × 60 % = 66 900; left 45 600 → critical (30 600 × 60 % = 18 360) → 10 000
    assert s.basic.paid == D("66900.00") and s.critical.paid == D("10000.00")


def test_critical_second_segment_rate():
    """Cumulative 150 000 after basic: 100 000 × 60 % + 35 000 × 70 % = 84 500."""
    (s,), _ = run(SHIYAN, [facts(covered=True, policy_scope_cost=D("150000"), total_cost=D("150000"),
                                 basic_given=D("0"))])
    assert s.critical.paid == D("84500.00")


def test_platform_amounts_are_taken_as_given_and_the_bureau_computes_the_rest():
    """Platform: basic 6 000, critical 0 of scope 10 000; Shiyan category 2: 4 000 × 70 % = 2 800."""
    (s,), ledger = run(SHIYAN, [facts(policy_scope_cost=10000, total_cost=10500, basic_given=D("6000"),
                                      critical_given=D("0"), assistance=AssistanceStatus(category=2))])
    assert amounts(s) == (D("6000.00"), 0, D("2800.00"), 0, D("1700.00"))
    assert ledger["critical_base"] == D("4000.00") and "医院平台已结算" in s.explanation


def test_bad_amounts_are_field_errors():
    policy = pack_snapshot(SHIYAN)
    with pytest.raises(ValidationError) as err:
        settle(policy, facts(policy_scope_cost=200, total_cost=100), empty_ledger())
    assert "policy_scope_cost" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        settle(policy, facts(policy_scope_cost=-1, total_cost=100), empty_ledger())
    assert "policy_scope_cost" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        settle(policy, facts(policy_scope_cost=100, total_cost=100, basic_given=D("90"), critical_given=D("20")),
               empty_ledger())
    assert "basic_paid" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        # computed basic 7 125 of 10 000, the platform's critical 5 000 > 2 875 left
        settle(policy, facts(policy_scope_cost=10000, total_cost=10000, critical_given=D("5000")), empty_ledger())
    assert "critical_paid" in err.value.message_dict


def test_assistance_amount_is_reusable_for_retroactive_assistance():
    """Shiyan category 4: deductible 5 000, 50 %: base 8 000 → 1 500; with 4 000 of the
    deductible already met → (8 000 − 1 000) × 50 % = 3 500; with 48 000 paid → 2 000 left."""
    policy = pack_snapshot(SHIYAN)
    r, delta = rules.assistance_amount(policy, category=4, visit_type="inpatient", base=D("8000"))
    assert r.paid == D("1500.00") and delta == {"assistance_base": D("8000"), "assistance_paid": D("1500.00")}
    r, _ = rules.assistance_amount(policy, category=4, visit_type="inpatient", base=D("8000"),
                                   deductible_base_before=D("4000"))
    assert r.paid == D("3500.00")
    r, _ = rules.assistance_amount(policy, category=4, visit_type="inpatient", base=D("8000"),
                                   deductible_base_before=D("5000"), paid_before=D("48000"))
    assert r.paid == D("2000.00")


def test_half_up_rounding_per_tier():
    """Level 2 scope 500.03: (500.03 − 500) × 75 % = 0.0225 → 0.02; level 1 outpatient
    scope 0.10 × 65 % = 0.065 → 0.07 (half up)."""
    (s,), _ = run(SHIYAN, [facts(policy_scope_cost=D("500.03"), total_cost=D("500.03"))])
    assert s.basic.paid == D("0.02")
    (s,), _ = run(SHIYAN, [facts(visit_type="outpatient", hospital_level=1, policy_scope_cost=D("0.10"),
                                 total_cost=D("0.10"))])
    assert s.basic.paid == D("0.07")


def test_yuan_and_percent_formatting():
    assert rules.yuan(D("500.00")) == "500" and rules.yuan(D("1234.5")) == "1234.50"
    assert rules.percent(D("0.75")) == "75%" and rules.percent(D("1.00")) == "100%"
    assert rules.percent(D("0.925")) == "92.5%"


def _yuan_by_rounding(amount):
    """What :func:`rules.yuan` printed before its fast path: always round to the fen first."""
    from yibao_site.money import to_fen

    text = str(to_fen(amount))
    return text[:-3] if text.endswith(".00") else text


@pytest.mark.parametrize("text", ["0", "0.00", "-0.00", "-0", "0E-7", "1.005", "-1.005", "1.2E+3", "1E+2",
                                  "1.00E+3", "500.00", "12.3", "12.345", "0.01", "-0.01", "5E-3", "0.001",
                                  "123456789012.34", "7.10", "100"])
def test_yuan_fast_path_prints_what_rounding_printed(text):
    assert rules.yuan(D(text)) == _yuan_by_rounding(D(text))
    assert rules.yuan(int(D(text))) == _yuan_by_rounding(int(D(text)))


def test_yuan_fast_path_everywhere():
    import random

    rng = random.Random(14)
    for _ in range(20_000):
        value = D(rng.randint(-10**9, 10**9)).scaleb(rng.randint(-6, 4))
        assert rules.yuan(value) == _yuan_by_rounding(value), value
