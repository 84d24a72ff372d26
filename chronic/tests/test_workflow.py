"""Certification workflow: scoping, maker-checker, one-time notice, deadlines, the API."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from chronic import services
from chronic.models import Certification, CertificationEvent, CertificationStatus as S
from claims.tests import factories as f
from yibao_site.actors import system_actor

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def pdf(name="诊断证明.pdf"):
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def filed(staff, person, actor=None, code="M00501", diagnosis="C34.9"):
    actor = actor or staff["agent"]
    cert = services.certification_create(actor=actor, person=person, disease=code, diagnosis=diagnosis)
    for t in ("application_form", "id_card", "diagnosis"):
        services.material_add(actor=actor, certification=cert, material_type=t, upload=pdf())
    return cert


def test_the_whole_way_to_approval_with_a_notice(shiyan, staff):
    """Filed by the township agent, returned by the clerk listing two items at once, resubmitted,
    assessed by the city hospital, approved by a reviewer on 2024-03-15: valid 2024-03-15 …
    2025-03-14 (12 months); every step is an event."""
    p = f.insured(shiyan)
    cert = filed(staff, p)
    services.certification_submit(actor=staff["agent"], certification=cert, on=date(2024, 3, 1))
    cert.refresh_from_db()
    assert cert.status == S.SUBMITTED and cert.owner == staff["agent"]
    assert cert.deadline == date(2024, 3, 22)  # Friday + 15 working days
    notice = services.certification_return(actor=staff["clerk"], certification=cert, reason="材料不全",
                                           missing=["medical_record", {"type": "test_report", "note": "近3个月"}])
    assert notice.number == f"MTB-{cert.pk:06d}-01" and [i["type"] for i in notice.missing] == [
        "medical_record", "test_report"]
    with pytest.raises(ValidationError) as exc:  # only one of the two listed items supplied
        services.material_add(actor=staff["agent"], certification=cert, material_type="medical_record", upload=pdf())
        services.certification_resubmit(actor=staff["agent"], certification=cert)
    assert "检查检验报告" in str(exc.value)
    services.material_add(actor=staff["agent"], certification=cert, material_type="test_report", upload=pdf())
    services.certification_resubmit(actor=staff["agent"], certification=cert, on=date(2024, 3, 4))
    services.certification_record_opinion(actor=staff["clerk"], certification=cert, hospital_code="H42030001",
                                          supports=True, opinion="符合恶性肿瘤门诊治疗认定标准")
    services.certification_approve(actor=staff["reviewer"], certification=cert, on=date(2024, 3, 15))
    cert.refresh_from_db()
    assert (cert.status, cert.valid_from, cert.valid_to, cert.hospital_name) == (
        S.APPROVED, date(2024, 3, 15), date(2025, 3, 14), "十堰市人民医院")
    actions = list(cert.events.values_list("action", flat=True))
    assert actions == ["create", "material", "material", "material", "submit", "return", "material", "material",
                       "resubmit", "opinion", "approve"]
    assert cert.history.count() >= 6  # audited


def test_maker_checker_and_roles(shiyan, staff):
    p = f.insured(shiyan)
    cert = filed(staff, p, actor=staff["clerk"])
    services.certification_submit(actor=staff["clerk"], certification=cert)
    with pytest.raises(PermissionDenied):  # nobody records an opinion on their own filing
        services.certification_record_opinion(actor=staff["clerk"], certification=cert, hospital_code="H42030001",
                                              supports=True, opinion="符合")
    with pytest.raises(ValidationError):  # a hospital the region does not designate
        services.certification_record_opinion(actor=staff["reviewer"], certification=cert, hospital_code="H999",
                                              supports=True, opinion="符合")
    services.certification_record_opinion(actor=staff["reviewer"], certification=cert, hospital_code="H42030002",
                                          supports=True, opinion="符合")
    for actor in (staff["clerk"], staff["agent"], staff["finance"], staff["supervisor"]):
        with pytest.raises(PermissionDenied):
            services.certification_approve(actor=actor, certification=cert)
    with pytest.raises(PermissionDenied):  # 窗口无否决权
        services.certification_reject(actor=staff["clerk"], certification=cert, reason="不符合")
    with pytest.raises(ValidationError):
        services.certification_reject(actor=staff["reviewer"], certification=cert, reason="")
    services.certification_approve(actor=staff["reviewer"], certification=cert)
    assert Certification.objects.get(pk=cert.pk).status == S.APPROVED


def test_own_filing_is_never_decided_even_by_a_superuser(shiyan, staff):
    from yibao_site.services import staff_save

    boss = staff_save(username="boss", role="window_clerk", password="Yb-test-pass-2026")
    boss.is_superuser = True
    boss.save()
    p = f.insured(shiyan)
    cert = filed(staff, p, actor=boss)
    services.certification_submit(actor=boss, certification=cert)
    services.certification_record_opinion(actor=staff["reviewer"], certification=cert, hospital_code="H42030001",
                                          supports=True, opinion="符合")
    with pytest.raises(PermissionDenied):
        services.certification_approve(actor=boss, certification=cert)


def test_a_hospital_opinion_against_means_no_approval(shiyan, staff):
    p = f.insured(shiyan)
    cert = filed(staff, p)
    services.certification_submit(actor=staff["agent"], certification=cert)
    services.certification_record_opinion(actor=staff["clerk"], certification=cert, hospital_code="H42030001",
                                          supports=False, opinion="病理未确诊")
    with pytest.raises(ValidationError):
        services.certification_approve(actor=staff["reviewer"], certification=cert)
    services.certification_reject(actor=staff["reviewer"], certification=cert, reason="医院意见不符合")
    assert Certification.objects.get(pk=cert.pk).status == S.REJECTED


def test_agents_file_only_in_their_own_township_and_see_only_it(shiyan, staff, api):
    mine = f.insured(shiyan, township=0)
    theirs = f.insured(shiyan, township=1)
    with pytest.raises(PermissionDenied):
        services.certification_create(actor=staff["agent"], person=theirs, disease="M00501", diagnosis="C34")
    a = filed(staff, mine)
    b = filed(staff, theirs, actor=staff["agent_b"])
    client = api(staff["agent"])
    ids = [row["id"] for row in client.get("/api/v1/chronic-certifications/").json()["results"]]
    assert ids == [a.pk]
    assert client.get(f"/api/v1/chronic-certifications/{b.pk}/").status_code == 404
    assert client.post(f"/api/v1/chronic-certifications/{b.pk}/submit/").status_code == 404
    resp = client.post("/api/v1/chronic-certifications/", {"person": theirs.id_number, "disease": "M00501",
                                                            "diagnosis": "C34"}, format="json")
    assert resp.status_code == 400 and "person" in resp.json()
    with pytest.raises(PermissionDenied):
        services.material_add(actor=staff["agent"], certification=b, material_type="other", upload=pdf())


def test_diagnosis_must_match_the_disease_and_no_duplicates(shiyan, staff):
    p = f.insured(shiyan)
    with pytest.raises(ValidationError) as exc:
        services.certification_create(actor=staff["agent"], person=p, disease="M00501", diagnosis="I10")
    assert "diagnosis" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.certification_create(actor=staff["agent"], person=p, disease="NOPE", diagnosis="I10")
    assert "disease" in exc.value.message_dict
    filed(staff, p)
    with pytest.raises(ValidationError) as exc:
        services.certification_create(actor=staff["agent"], person=p, disease="M00501", diagnosis="C50")
    assert "disease" in exc.value.message_dict


def test_submission_needs_the_checklist_and_overdue_cases_are_flagged(shiyan, staff):
    p = f.insured(shiyan)
    cert = services.certification_create(actor=staff["agent"], person=p, disease="M00601", diagnosis="N18.5")
    with pytest.raises(ValidationError) as exc:
        services.certification_submit(actor=staff["agent"], certification=cert)
    assert "申请表" in str(exc.value) and "诊断证明" in str(exc.value)
    cert = filed(staff, f.insured(shiyan))
    services.certification_submit(actor=staff["agent"], certification=cert, on=date(2024, 3, 1))
    assert services.certifications_flag_overdue(actor=system_actor("chronic.flag_overdue"), on=date(2024, 3, 22))["flagged"] == 0
    assert services.certifications_flag_overdue(actor=system_actor("chronic.flag_overdue"), on=date(2024, 3, 23))["flagged"] == 1
    assert CertificationEvent.objects.filter(certification=cert, action="overdue").count() == 1
    assert services.certifications_flag_overdue(actor=system_actor("chronic.flag_overdue"), on=date(2024, 3, 23))["flagged"] == 0  # idempotent


def test_api_actions_and_roles(shiyan, staff, api):
    p = f.insured(shiyan)
    cert = filed(staff, p)
    agent = api(staff["agent"])
    assert agent.post(f"/api/v1/chronic-certifications/{cert.pk}/submit/").json()["status"] == "submitted"
    assert agent.post(f"/api/v1/chronic-certifications/{cert.pk}/approve/", {}, format="json").status_code == 403
    clerk = api(staff["clerk"])
    resp = clerk.post(f"/api/v1/chronic-certifications/{cert.pk}/return/",
                      {"missing": [{"type": "medical_record"}], "reason": "缺病历"}, format="json")
    assert resp.status_code == 200 and resp.json()["status"] == "returned" and resp.json()["notices"][0]["url"]
    up = agent.post(f"/api/v1/chronic-certifications/{cert.pk}/materials/",
                    {"material_type": "medical_record", "file": pdf("病历.pdf")}, format="multipart")
    assert up.status_code == 201
    assert agent.post(f"/api/v1/chronic-certifications/{cert.pk}/resubmit/", {}, format="json").status_code == 200
    resp = clerk.post(f"/api/v1/chronic-certifications/{cert.pk}/opinion/",
                      {"hospital": "H42030001", "supports": True, "opinion": "符合"}, format="json")
    assert resp.json()["status"] == "assessed"
    assert clerk.post(f"/api/v1/chronic-certifications/{cert.pk}/reject/", {"reason": "x"},
                      format="json").status_code == 403
    resp = api(staff["reviewer"]).post(f"/api/v1/chronic-certifications/{cert.pk}/approve/", {}, format="json")
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "approved" and body["disease"] == "M00501"
    assert body["valid_from"] and body["valid_to"]
    diseases = api(staff["agent"]).get("/api/v1/chronic-diseases/?on=2024-06-01").json()["results"]
    assert {"M00501", "M00601"} <= {d["code"] for d in diseases}
    assert next(d for d in diseases if d["code"] == "M00501")["separate_drug_payment"] is True
    report = api(staff["reviewer"]).get("/api/v1/chronic-reports/certified/").json()["rows"]
    assert report == [{"disease": "M00501", "disease_name": "恶性肿瘤门诊治疗", "township": p.township.code,
                       "township_name": p.township.name, "persons": 1}]


def test_spending_report_by_disease(shiyan, staff, api):
    """Shiyan resident chronic 65 % (illustrative), two certified claims of 1 000 → 650 each,
    one uncertified platform claim (basic 600) flagged: M00501 claims 2, basic 1 300.00;
    M00601 claims 1, basic 600.00, flagged 1."""
    from chronic.testing import certify

    p = f.insured(shiyan)
    certify(p, "M00501", date(2024, 1, 1), date(2024, 12, 31))
    for day in (1, 2):
        f.settle(p, visit_type="chronic", level=2, on=date(2024, 5, day), total="1000", disease="M00501")
    f.settle(p, visit_type="chronic", level=2, on=date(2024, 5, 3), total="1000", disease="M00601",
             basic_paid=D("600"), critical_paid=D("0"))
    rows = api(staff["reviewer"]).get("/api/v1/chronic-reports/spending/?from=2024-01-01&to=2024-12-31").json()["rows"]
    by = {r["disease"]: r for r in rows}
    assert (by["M00501"]["claims"], by["M00501"]["basic_paid"], by["M00501"]["flagged"]) == (2, "1300.00", 0)
    assert (by["M00601"]["claims"], by["M00601"]["basic_paid"], by["M00601"]["flagged"]) == (1, "600.00", 1)
