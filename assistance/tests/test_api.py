"""The API contract (API.md ``assistance/applications/``): 404 outside scope, 403 for the wrong
role, 400 with field errors and nothing written, never a 500."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from assistance.models import Application, Material

from .conftest import PDF, upload

BASE = "/api/v1/assistance/applications/"


@pytest.fixture
def poor(make_person, add_claim):
    person = make_person("李四")
    add_claim(person, date.today() - timedelta(days=30), out_of_pocket="99999")
    return person


def file_via_api(client, person, kind="determination", basis="illness_poverty"):
    res = client.post(BASE, {"person": person.id_number, "kind": kind, "basis": basis, "note": "村委推荐"})
    assert res.status_code == 201, res.content
    app_id = res.json()["id"]
    for material_type in ("application_form", "id_card", "medical_bills", "diagnosis"):
        res = client.post(f"{BASE}{app_id}/materials/", {"material_type": material_type, "file": upload()},
                          format="multipart")
        assert res.status_code == 201, res.content
    return app_id


def test_full_flow_over_the_api(api, staff, agent2, poor):
    agent = api(staff["agent"])
    app_id = file_via_api(agent, poor)
    res = agent.post(f"{BASE}{app_id}/submit/")
    assert res.status_code == 200 and res.json()["status"] == "submitted" and res.json()["deadline"]
    res = api(staff["reviewer"]).post(f"{BASE}{app_id}/return/", {"missing": [{"type": "income", "note": "收入证明"}],
                                                                 "reason": "缺材料"})
    assert res.status_code == 200 and res.json()["status"] == "returned"
    notice_url = res.json()["notices"][0]["url"]
    assert notice_url.startswith("/agent/notices/YCXGZ-")
    assert agent.post(f"{BASE}{app_id}/resubmit/").status_code == 400
    agent.post(f"{BASE}{app_id}/materials/", {"material_type": "income", "file": upload()}, format="multipart")
    assert agent.post(f"{BASE}{app_id}/resubmit/", {"note": "已补"}).json()["status"] == "resubmitted"
    verifier = api(agent2)
    res = verifier.post(f"{BASE}{app_id}/materials/", {"material_type": "property", "file": upload()},
                        format="multipart")
    evidence = res.json()["id"]
    res = verifier.post(f"{BASE}{app_id}/verify/", {"note": "属实", "property_check_passed": True,
                                                    "property_evidence": evidence, "property_note": "民政核查符合"})
    assert res.status_code == 200 and res.json()["status"] == "verified", res.content
    res = api(staff["reviewer"]).post(f"{BASE}{app_id}/approve/", {"reason": "同意"})
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["status"] == "approved" and body["category"] == 4 and body["valid_to"]
    assert [h["action"] for h in body["history"] if h["action"] != "material"] == [
        "create", "submit", "return", "resubmit", "verify", "approve"]
    assert body["means_oop"] == "99999.00"


def test_other_township_gets_404_and_wrong_role_403(api, staff, poor):
    app_id = file_via_api(api(staff["agent"]), poor)
    other = api(staff["agent_b"])
    assert other.get(f"{BASE}{app_id}/").status_code == 404
    assert other.post(f"{BASE}{app_id}/submit/").status_code == 404
    assert other.get(BASE).json()["count"] == 0
    res = other.post(BASE, {"person": poor.id_number, "kind": "determination", "basis": "illness_poverty"})
    assert res.status_code == 400 and "person" in res.json()
    api(staff["agent"]).post(f"{BASE}{app_id}/submit/")
    assert api(staff["clerk"]).post(f"{BASE}{app_id}/reject/", {"reason": "x"}).status_code == 403
    assert api(staff["finance"]).post(f"{BASE}{app_id}/approve/").status_code == 403
    assert api(staff["reviewer"]).post(BASE, {"person": poor.id_number, "kind": "tilt"}).status_code == 403
    # the filer's own case: the service refuses with 403, even for an agent allowed to verify
    assert api(staff["agent"]).post(f"{BASE}{app_id}/verify/").status_code == 403


def test_bad_input_is_400_with_field_errors_and_writes_nothing(api, staff, poor):
    client = api(staff["agent"])
    before = Application.objects.count()
    cases = [
        {"person": "not-an-id", "kind": "determination", "basis": "illness_poverty"},
        {"person": poor.id_number, "kind": "nonsense"},
        {"person": poor.id_number, "kind": "determination"},
        {"person": poor.id_number, "kind": "determination", "basis": "illness_poverty", "category": 9},
        {"person": poor.id_number, "kind": "determination", "basis": "illness_poverty", "category": 3},
    ]
    for payload in cases:
        res = client.post(BASE, payload)
        assert res.status_code == 400, (payload, res.content)
        assert isinstance(res.json(), dict)
    assert Application.objects.count() == before
    app_id = file_via_api(client, poor)
    client.post(f"{BASE}{app_id}/submit/")
    reviewer = api(staff["reviewer"])
    assert reviewer.post(f"{BASE}{app_id}/reject/", {"reason": ""}).json() == {"reason": ["不予批准必须说明理由。"]}
    assert "missing" in reviewer.post(f"{BASE}{app_id}/return/", {"missing": []}).json()
    assert "missing" in reviewer.post(f"{BASE}{app_id}/return/", {"missing": [{"type": "x"}]}).json()
    res = client.post(f"{BASE}{app_id}/materials/", {"material_type": "id_card", "file": upload("a.pdf", b"GIF89a")},
                      format="multipart")
    assert res.status_code == 400 and "file" in res.json()
    assert Material.objects.filter(application_id=app_id).count() == 4
    assert Application.objects.get(pk=app_id).status == "submitted"


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(st.sampled_from(["person", "kind", "basis", "category", "note", "missing", "reason"]),
                               st.one_of(st.none(), st.text(max_size=20), st.integers(), st.lists(st.text(max_size=5)))))
def test_any_input_gets_an_answer_never_a_500(api, staff, poor, payload):
    client = api(staff["agent"])
    assert client.post(BASE, payload, format="json").status_code in (201, 400, 403)
    reviewer = api(staff["reviewer"])
    app = Application.objects.first()
    if app is not None:
        for action in ("return", "reject", "approve", "verify"):
            assert reviewer.post(f"{BASE}{app.pk}/{action}/", payload, format="json").status_code in (200, 400, 403)


def test_payout_endpoint_pays_once(api, staff, agent2, make_person, give_identity, settle_claim, file_case):
    from assistance import services

    person = make_person()
    give_identity(person, "subsistence", date(2024, 3, 15))
    settle_claim(person, date(2023, 6, 1), policy_scope_cost="1000", basic_paid="500")
    app = file_case(staff["agent"], person, kind="retroactive", basis="", on=date(2024, 4, 1))
    app = services.application_verify(actor=agent2, application=app)
    app = services.application_approve(actor=staff["reviewer"], application=app, on=date(2024, 4, 1))
    finance = api(staff["finance"])
    assert finance.get(f"{BASE}?queue=to_pay").json()["count"] == 1
    res = finance.post("/api/v1/assistance/payouts/", {"application": app.pk, "reference": "ZF-9"})
    assert res.status_code == 201 and res.json()["amount"] == "350.00"  # 500 × 70 %
    res = finance.post(f"{BASE}{app.pk}/payout/", {"reference": "again"})
    assert res.status_code == 400 and "不能重复支付" in str(res.json())
    assert api(staff["reviewer"]).post("/api/v1/assistance/payouts/", {"application": app.pk}).status_code == 403


def test_objects_and_dynamics_endpoints(api, staff, make_person, give_identity):
    person = make_person()
    give_identity(person, "orphan", date(2024, 3, 3))
    res = api(staff["reviewer"]).get("/api/v1/assistance/objects/?on=2024-03-31")
    assert res.status_code == 200 and res.json()["results"][0]["category"] == 1
    res = api(staff["agent_b"]).get("/api/v1/assistance/objects/?on=2024-03-31")
    assert res.json()["count"] == 0
    res = api(staff["reviewer"]).get("/api/v1/assistance/dynamics/?month=2024-03")
    assert res.status_code == 200 and res.json()["added"] == 1
    assert api(staff["reviewer"]).get("/api/v1/assistance/dynamics/?month=2024-13").status_code == 400
    assert api(staff["reviewer"]).get("/api/v1/assistance/objects/?on=yesterday").status_code == 400
    assert api(staff["reviewer"]).get("/api/v1/assistance/objects/?category=7").status_code == 400


def test_holidays_are_kept_by_the_supervisor(api, staff):
    res = api(staff["supervisor"]).post("/api/v1/assistance/holidays/", {"date": "2024-10-01", "name": "国庆节"})
    assert res.status_code == 201
    res = api(staff["supervisor"]).post("/api/v1/assistance/holidays/", {"date": "2024-10-01", "name": "国庆"})
    assert res.status_code == 201 and res.json()["name"] == "国庆"
    assert api(staff["clerk"]).post("/api/v1/assistance/holidays/", {"date": "2024-10-02", "name": "x"}).status_code == 403


def test_material_files_are_served_only_within_scope(client, staff, poor, api):
    app_id = file_via_api(api(staff["agent"]), poor)
    material = Material.objects.filter(application_id=app_id).first()
    url = f"/agent/materials/{material.pk}/"
    client.force_login(staff["agent"])
    res = client.get(url)
    assert res.status_code == 200 and res["Content-Type"] == "application/pdf"
    assert b"".join(res.streaming_content) == PDF
    client.force_login(staff["reviewer"])
    assert client.get(url).status_code == 200
    client.force_login(staff["agent_b"])
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302
    assert not str(material.file.url).startswith("/agent/")  # the storage URL is never linked anywhere
