"""The township agent's pages and the admin's queues and one-click actions."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from assistance import services
from assistance.models import Application, ApplicationStatus as S

from .conftest import upload


@pytest.fixture
def poor(make_person, add_claim):
    person = make_person("李四")
    add_claim(person, date.today() - timedelta(days=30), out_of_pocket="99999")
    return person


def test_agent_files_uploads_submits_and_resubmits_through_the_pages(client, staff, poor):
    client.force_login(staff["agent"])
    res = client.get("/agent/persons/", {"q": "李"})
    assert res.status_code == 200 and poor.masked_id in res.content.decode()
    res = client.post(f"/agent/persons/{poor.id_number}/", {"kind": "determination", "basis": "illness_poverty",
                                                            "note": "住院多次"})
    app = Application.objects.get()
    assert res.status_code == 302 and res["Location"] == f"/agent/cases/{app.pk}/"
    res = client.post(f"/agent/cases/{app.pk}/submit/", follow=True)
    assert "缺少以下材料" in res.content.decode()
    for material_type in services.required_materials(app):
        client.post(f"/agent/cases/{app.pk}/upload/", {"material_type": material_type, "file": upload()})
    res = client.post(f"/agent/cases/{app.pk}/upload/", {"material_type": "id_card",
                                                        "file": upload("x.pdf", b"<html>")}, follow=True)
    assert "不是有效的" in res.content.decode()
    client.post(f"/agent/cases/{app.pk}/submit/")
    app.refresh_from_db()
    assert app.status == S.SUBMITTED
    notice = services.application_return(actor=staff["reviewer"], application=app,
                                         missing=[{"type": "income", "note": "近一年收入证明"}])
    page = client.get("/agent/").content.decode()
    assert f"/agent/cases/{app.pk}/" in page
    page = client.get(f"/agent/cases/{app.pk}/").content.decode()
    assert "家庭收入证明" in page and notice.number in page
    printable = client.get(f"/agent/notices/{notice.number}/").content.decode()
    assert "一次性告知书" in printable and "近一年收入证明" in printable and "@media print" in printable
    client.post(f"/agent/cases/{app.pk}/upload/", {"material_type": "income", "file": upload()})
    client.post(f"/agent/cases/{app.pk}/resubmit/", {"note": "已补"})
    app.refresh_from_db()
    assert app.status == S.RESUBMITTED


def test_agent_pages_stay_within_the_township(client, staff, poor, file_case):
    app = file_case(staff["agent"], poor)
    client.force_login(staff["agent_b"])
    assert client.get(f"/agent/persons/{poor.id_number}/").status_code == 404
    assert client.get(f"/agent/cases/{app.pk}/").status_code == 404
    assert client.post(f"/agent/cases/{app.pk}/verify/").status_code == 404
    notice = services.application_return(actor=staff["reviewer"], application=app, missing=["income"])
    assert client.get(f"/agent/notices/{notice.number}/").status_code == 404
    page = client.get("/agent/persons/", {"q": poor.name}).content.decode()
    assert "没有找到该居民" in page and poor.masked_id not in page


def test_colleague_verifies_on_the_agent_pages(client, staff, agent2, poor, file_case):
    app = file_case(staff["agent"], poor)
    client.force_login(agent2)
    assert f"/agent/cases/{app.pk}/" in client.get("/agent/").content.decode()
    client.post(f"/agent/cases/{app.pk}/upload/", {"material_type": "property", "file": upload()})
    evidence = app.materials.get(material_type="property")
    res = client.post(f"/agent/cases/{app.pk}/verify/", {"note": "入户核实", "property_check_passed": "yes",
                                                         "property_evidence": evidence.pk, "property_note": "符合"})
    app.refresh_from_db()
    assert res.status_code == 302 and app.status == S.VERIFIED and app.verified_by == agent2


def test_staff_are_sent_to_the_admin_and_anonymous_to_login(client, staff):
    assert client.get("/agent/")["Location"].startswith("/accounts/login/")
    client.force_login(staff["reviewer"])
    assert client.get("/agent/")["Location"] == "/admin/"


def test_login_page_is_phone_friendly_and_logs_an_agent_in(client, staff):
    page = client.get("/accounts/login/").content.decode()
    assert 'name="viewport"' in page and "http" not in page.split("<form")[0].replace("http-equiv", "")
    res = client.post("/accounts/login/", {"username": "agent", "password": "Yb-test-pass-2026"})
    assert res.status_code == 302
    assert client.get("/agent/").status_code == 200


def test_admin_queues_and_one_click_actions_call_the_services(client, staff, agent2, poor, file_case, give_identity,
                                                              make_person):
    app = file_case(staff["agent"], poor)
    client.force_login(staff["reviewer"])
    res = client.get("/admin/assistance/application/?queue=to_review")
    assert res.status_code == 200 and poor.name in res.content.decode()
    page = client.get(f"/admin/assistance/application/{app.pk}/change/").content.decode()
    assert f"/act/return/" in page and f"/act/reject/" in page
    res = client.post(f"/admin/assistance/application/{app.pk}/act/return/", {"missing": []})
    assert res.status_code == 200 and "一次性列明" in res.content.decode()
    res = client.post(f"/admin/assistance/application/{app.pk}/act/return/",
                      {"missing": ["income", "other"], "other": "村委证明", "reason": "材料不全"})
    app.refresh_from_db()
    assert res.status_code == 302 and app.status == S.RETURNED
    assert app.notices.get().missing == [{"type": "income", "note": ""}, {"type": "other", "note": "村委证明"}]
    assert poor.name in client.get("/admin/assistance/application/?queue=returned").content.decode()
    # one-click bulk approval of a verified tilt case (no forms needed)
    other = make_person("周")
    give_identity(other, "subsistence", date(2022, 1, 1))
    tilt = file_case(staff["agent"], other, kind="tilt", basis="")
    services.application_verify(actor=agent2, application=tilt)
    res = client.post("/admin/assistance/application/", {"action": "approve_selected", "_selected_action": [tilt.pk]})
    tilt.refresh_from_db()
    assert res.status_code == 302 and tilt.status == S.APPROVED
    assert client.get("/admin/").status_code == 200


def test_window_clerk_files_in_the_admin_but_has_no_reject_button(client, staff, poor):
    client.force_login(staff["clerk"])
    res = client.post("/admin/assistance/application/add/", {"id_number": poor.id_number, "kind": "determination",
                                                             "basis": "illness_poverty"})
    app = Application.objects.get()
    assert res.status_code == 302 and app.channel == "window" and app.filed_by == staff["clerk"]
    for material_type in services.required_materials(app):
        client.post(f"/admin/assistance/application/{app.pk}/act/upload/",
                    {"material_type": material_type, "file": upload()})
    client.post(f"/admin/assistance/application/{app.pk}/act/submit/", {"note": ""})
    app.refresh_from_db()
    assert app.status == S.SUBMITTED and app.owner == staff["clerk"]
    page = client.get(f"/admin/assistance/application/{app.pk}/change/").content.decode()
    assert "/act/reject/" not in page
    res = client.post(f"/admin/assistance/application/{app.pk}/act/reject/", {"reason": "不行"}, follow=True)
    app.refresh_from_db()
    assert app.status == S.SUBMITTED and "窗口无否决权" in res.content.decode()


def test_dashboard_and_dynamics_pages_render(client, staff, make_person, give_identity):
    give_identity(make_person(), "orphan", date.today().replace(day=1))
    client.force_login(staff["reviewer"])
    page = client.get("/admin/").content.decode()
    assert "待我审核" in page and "已超期" in page
    res = client.get("/admin/assistance/assistanceobject/dynamics/")
    assert res.status_code == 200 and "月度动态" in res.content.decode()
    assert client.get("/admin/assistance/assistanceobject/").status_code == 200
    assert client.get("/admin/assistance/assistanceobject/dynamics/?month=bad").status_code == 200
    client.force_login(staff["finance"])
    assert "待支付救助金" in client.get("/admin/").content.decode()
