"""The ``claims/`` API (API.md): create, read, reverse, correct; roles and township scope."""
from datetime import date

import pytest

from claims.models import Claim, PersonYearLedger

from . import factories as f

BODY = {"visit_type": "inpatient", "hospital_level": 2, "service_date": "2024-06-01", "total_cost": "15000.00",
        "policy_scope_cost": "12000.00", "in_province": True, "referred": False}


@pytest.fixture
def person(shiyan):
    return f.insured(shiyan, township=0)


def test_clerk_posts_a_claim_and_reads_every_tier(api, staff, person):
    res = api(staff["clerk"]).post("/api/v1/claims/", {**BODY, "person": person.id_number}, format="json")
    assert res.status_code == 201, res.data
    assert res.data["basic_paid"] == "8625.00" and res.data["critical_paid"] == "0.00"
    assert res.data["assistance_paid"] == "0.00" and res.data["second_round_paid"] == "0.00"
    assert res.data["out_of_pocket"] == "6375.00" and res.data["policy_version"].startswith("shiyan-2022#")
    assert res.data["person"] == person.id_number and "住院起付线500元" in res.data["explanation"]
    got = api(staff["reviewer"]).get(f"/api/v1/claims/{res.data['id']}/")
    assert got.status_code == 200 and got.data["breakdown"]["tiers"]["basic"]["paid"] == "8625.00"
    listed = api(staff["supervisor"]).get("/api/v1/claims/", {"person": person.id_number, "year": 2024})
    assert listed.data["count"] == 1 and "breakdown" not in listed.data["results"][0]


def test_platform_amounts_are_accepted(api, staff, person):
    body = {**BODY, "person": person.id_number, "basic_paid": "8000.00", "critical_paid": "0.00"}
    res = api(staff["clerk"]).post("/api/v1/claims/", body, format="json")
    assert res.status_code == 201 and res.data["basic_paid"] == "8000.00" and res.data["platform_settled"]


@pytest.mark.parametrize("change, field", [
    ({"total_cost": "-5"}, "total_cost"),
    ({"policy_scope_cost": "20000"}, "policy_scope_cost"),
    ({"total_cost": "abc"}, "total_cost"),
    ({"total_cost": "12.345"}, "total_cost"),
    ({"hospital_level": 7}, "hospital_level"),
    ({"visit_type": "spa"}, "visit_type"),
    ({"service_date": "2024-13-01"}, "service_date"),
    ({"service_date": "2999-01-01"}, "service_date"),
    ({"person": "420302197003010000"}, "person"),
    ({"basic_paid": "12000", "critical_paid": "1"}, "basic_paid"),
    ({"critical_paid": "9000"}, "critical_paid"),
    ({"total_cost": "1" * 20}, "total_cost"),
])
def test_bad_input_is_a_400_with_field_errors_and_writes_nothing(api, staff, person, change, field):
    body = {**BODY, "person": person.id_number, **change}
    res = api(staff["clerk"]).post("/api/v1/claims/", body, format="json")
    assert res.status_code == 400 and field in res.data, res.data
    assert not Claim.objects.exists()


def test_garbage_bodies_never_500(api, staff, person):
    client = api(staff["clerk"])
    for body in ([], "x", {"person": None}, {**BODY, "person": person.id_number, "in_province": "maybe"}):
        res = client.post("/api/v1/claims/", body, format="json")
        assert res.status_code == 400, (body, res.status_code)


def test_unenrolled_person_is_a_400_on_person(api, staff, shiyan):
    p = f.person(shiyan)
    res = api(staff["clerk"]).post("/api/v1/claims/", {**BODY, "person": p.id_number}, format="json")
    assert res.status_code == 400 and "person" in res.data


def test_reverse_restores_the_ledger_and_cannot_run_twice(api, staff, person):
    client = api(staff["clerk"])
    claim_id = client.post("/api/v1/claims/", {**BODY, "person": person.id_number}, format="json").data["id"]
    res = client.post(f"/api/v1/claims/{claim_id}/reverse/", {"reason": "重复结算"}, format="json")
    assert res.status_code == 201 and res.data["status"] == "reversal" and res.data["basic_paid"] == "-8625.00"
    assert PersonYearLedger.objects.get(person=person).out_of_pocket == 0
    again = client.post(f"/api/v1/claims/{claim_id}/reverse/", {}, format="json")
    assert again.status_code == 400 and "detail" in again.data


def test_correct_reverses_and_settles_anew(api, staff, person):
    client = api(staff["clerk"])
    claim_id = client.post("/api/v1/claims/", {**BODY, "person": person.id_number}, format="json").data["id"]
    res = client.post(f"/api/v1/claims/{claim_id}/correct/", {**BODY, "total_cost": "10000", "policy_scope_cost":
                                                              "10000", "reason": "金额录错"}, format="json")
    assert res.status_code == 201 and res.data["basic_paid"] == "7125.00"
    assert Claim.objects.get(pk=claim_id).status == "reversed"


def test_roles_agents_and_other_townships(api, staff, shiyan, person):
    other = f.insured(shiyan, township=1)
    f.settle(person, total="1000")
    f.settle(other, total="1000")
    assert api(staff["agent"]).get("/api/v1/claims/").status_code == 403
    assert api(staff["reviewer"]).post("/api/v1/claims/", {**BODY, "person": person.id_number},
                                       format="json").status_code == 403
    assert api(staff["finance"]).get("/api/v1/claims/").data["count"] == 2
    assert api().get("/api/v1/claims/").status_code in (401, 403)


def test_a_county_bound_clerk_cannot_reach_persons_elsewhere(api, shiyan, yicheng):
    from yibao_site.services import staff_save

    clerk = staff_save(username="yc-clerk", role="window_clerk", region_code=yicheng.county.code)
    elsewhere = f.insured(shiyan)
    claim = f.settle(elsewhere, total="1000")
    client = api(clerk)
    assert client.get(f"/api/v1/claims/{claim.pk}/").status_code == 404
    assert client.post(f"/api/v1/claims/{claim.pk}/reverse/", {}, format="json").status_code == 404
    res = client.post("/api/v1/claims/", {**BODY, "person": elsewhere.id_number}, format="json")
    assert res.status_code == 400 and "person" in res.data


def test_english_errors_on_request(api, staff, person):
    res = api(staff["clerk"], language="en").post("/api/v1/claims/", {**BODY, "person": person.id_number,
                                                                       "total_cost": "-1"}, format="json")
    assert res.status_code == 400


def test_fund_entries_and_report(api, staff, shiyan, person):
    finance = api(staff["finance"])
    res = finance.post("/api/v1/fund-entries/", {"fund": "resident", "region": shiyan.city.code, "month": "2024-01",
                                                 "kind": "opening", "amount": "1000000"}, format="json")
    assert res.status_code == 201 and res.data["month"] == "2024-01" and res.data["amount"] == "1000000.00"
    assert api(staff["clerk"]).post("/api/v1/fund-entries/", {}, format="json").status_code == 403
    bad = finance.post("/api/v1/fund-entries/", {"fund": "x", "region": "1", "month": "2024-13", "kind": "premium",
                                                 "amount": "-1"}, format="json")
    assert bad.status_code == 400 and {"fund", "region", "month", "amount"} <= set(bad.data)
    report = api(staff["supervisor"]).get("/api/v1/fund-report/", {"year": 2024})
    assert report.status_code == 200 and len(report.data["months"]) == 12
    resident = next(x for x in report.data["funds"] if x["fund"] == "resident")
    assert resident["accumulated_balance"] == "1000000.00" and resident["months_of_capacity"] is None
    assert api(staff["supervisor"]).get("/api/v1/fund-report/", {"year": "x"}).status_code == 400
    assert api(staff["agent"]).get("/api/v1/fund-report/", {"year": 2024}).status_code == 403
