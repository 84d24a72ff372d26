from datetime import date
from decimal import Decimal

import pytest

from members import services
from members.models import Enrollment, Identity, Person, SubsidyBatch
from yibao_site.testing import make_id_number

from .factories import register
from members.testing import clerk


@pytest.fixture
def clerk_client(client, staff):
    client.force_login(staff["clerk"])
    return client


@pytest.mark.parametrize("model", ["person", "enrollment", "identity", "personalaccount", "accountentry",
                                   "offsiteregistration", "subsidybatch", "identityimport", "assistanceentitlement",
                                   "studentlumpsum"])
def test_changelists_and_add_pages_render(clerk_client, shiyan, model):
    p = register(shiyan)
    services.identity_add(actor=clerk(), person=p, kind="orphan", valid_from=date(2024, 1, 1), source="civil_affairs")
    assert clerk_client.get(f"/admin/members/{model}/").status_code == 200
    r = clerk_client.get(f"/admin/members/{model}/add/")
    assert r.status_code in (200, 403)


def test_changelist_masks_ids_for_reviewer_and_filters_by_township(client, staff, shiyan):
    p = register(shiyan, township=1)
    client.force_login(staff["reviewer"])
    body = client.get("/admin/members/person/").content.decode()
    assert p.id_number not in body and p.id_number[:6] + "********" in body
    body = client.get("/admin/members/person/", {"township": shiyan.townships[0].code}).content.decode()
    assert p.id_number[-4:] not in body


def test_admin_add_person_goes_through_the_service(clerk_client, shiyan):
    idn = make_id_number("420302", date(1991, 2, 3), 9, "F")
    r = clerk_client.post("/admin/members/person/add/", {"id_number": idn, "name": "后台登记",
                                                         "village": shiyan.village().pk, "phone": "", "household_no": ""})
    assert r.status_code == 302, r.content.decode()[:2000]
    p = Person.objects.get(id_number=idn)
    assert (p.sex, p.birth_date) == ("F", date(1991, 2, 3))
    assert p.history.get().history_change_reason == "参保登记"


def test_admin_enrollment_error_shows_on_the_form_not_a_500(clerk_client, shiyan):
    p = register(shiyan)
    r = clerk_client.post("/admin/members/enrollment/add/", {"person": p.pk, "year": 2025, "scheme": "resident",
                                                             "paid_on": "2025-12-20", "amount": "", "via": "window"})
    assert r.status_code == 200 and "等待期" in r.content.decode()
    assert Enrollment.objects.count() == 0
    r = clerk_client.post("/admin/members/enrollment/add/", {"person": p.pk, "year": 2025, "scheme": "resident",
                                                             "paid_on": "2024-12-20", "amount": "", "via": "window"})
    assert r.status_code == 302 and Enrollment.objects.get().amount == 400


def test_identity_list_upload_page_applies_a_department_list(clerk_client, shiyan):
    p = register(shiyan)
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = f"公民身份号码,身份类别,有效期起,有效期止\n{p.id_number},subsistence,2025-01-01,\n".encode()
    def post(**extra):
        return clerk_client.post("/admin/members/identityimport/upload/", {
            "source": "civil_affairs", "as_of": "2025-03-01", "file": SimpleUploadedFile("list.csv", data), **extra})

    r = post(dry_run="on")
    assert r.status_code == 200 and "比对结果" in r.content.decode() and Identity.objects.count() == 0
    post()
    assert Identity.objects.count() == 1
    r = post()
    assert Identity.objects.count() == 1 and r.context["report"].unchanged == 1


def test_agent_has_no_admin(client, staff):
    client.force_login(staff["agent"])
    assert client.get("/admin/members/person/").status_code == 302


def test_supervisor_home_shows_draft_batches(client, staff, shiyan):
    from members import services as s

    s.subsidy_batch_build(actor=clerk(), region=shiyan.city, year=2024)
    client.force_login(staff["supervisor"])
    body = client.get("/admin/").content.decode()
    assert "资助参保批次待确认" in body


def test_person_list_filters_by_current_identity(clerk_client, shiyan):
    poor, other = register(shiyan), register(shiyan)
    services.identity_add(actor=clerk(), person=poor, kind="subsistence", valid_from=date(2020, 1, 1), source="civil_affairs")
    body = clerk_client.get("/admin/members/person/", {"identity": "subsistence"}).content.decode()
    assert poor.id_number in body and other.id_number not in body


def test_admin_service_form_runs_the_service_once(client, staff, shiyan, monkeypatch):
    """The add form builds a subsidy batch exactly once (no rolled-back dry run first), and a
    refusal runs it once too and shows the service's message on the form."""
    p = register(shiyan)
    services.identity_add(actor=clerk(), person=p, kind="subsistence", valid_from=date(2020, 1, 1),
                          source="civil_affairs")
    calls = []
    build = services.subsidy_batch_build

    def counting(**kwargs):
        calls.append(kwargs["region"].code)
        return build(**kwargs)

    monkeypatch.setattr(services, "subsidy_batch_build", counting)
    client.force_login(staff["supervisor"])
    r = client.post("/admin/members/subsidybatch/add/", {"region": shiyan.village().pk, "year": 2024})
    assert r.status_code == 200 and "资助参保批次按市、县或乡镇生成" in r.content.decode()
    assert calls == [shiyan.village().code] and not SubsidyBatch.objects.exists()
    calls.clear()
    r = client.post("/admin/members/subsidybatch/add/", {"region": shiyan.city.pk, "year": 2024})
    assert r.status_code == 302, r.content.decode()[:2000]
    assert calls == [shiyan.city.code]
    batch = SubsidyBatch.objects.get()
    assert (batch.count, batch.total_amount) == (1, Decimal("342.00"))
    assert [h.history_change_reason for h in batch.history.order_by("history_id")] == ["新建资助参保批次", "生成资助参保名单"]


def test_admin_caps_refresh_action_queues_the_resettling_job_after_commit(client, staff, shiyan,
                                                                          django_capture_on_commit_callbacks):
    """The action does not change caps itself (that would leave settled claims under the old cap):
    it queues the scheduled refresh, which re-settles (claims/tasks.py), once per selected year."""
    from unittest import mock

    e = services.enrollment_create(actor=clerk(), person=register(shiyan), year=2025, scheme="resident",
                                   paid_on=date(2025, 2, 10))
    client.force_login(staff["clerk"])
    data = {"action": "refresh_caps", "_selected_action": [e.pk]}
    with mock.patch("members.admin.enrolment.caps_refresh_queue") as queued:
        assert client.post("/admin/members/enrollment/", data).status_code == 403
        assert not queued.called
        client.force_login(staff["supervisor"])
        with django_capture_on_commit_callbacks(execute=True):
            r = client.post("/admin/members/enrollment/", data, follow=True)
    assert r.status_code == 200
    assert [c.args for c in queued.call_args_list] == [(e.year,)]
    assert "封顶线重算已提交后台执行" in r.content.decode()
