"""Agent pages and the admin: scoped, role-checked, and they render."""
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from chronic import services
from chronic.models import Certification
from chronic.tasks import flag_overdue
from claims.tests import factories as f

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _returned_case(staff, person):
    cert = services.certification_create(actor=staff["agent"], person=person, disease="M00601", diagnosis="N18.5")
    for t in ("application_form", "id_card", "diagnosis"):
        services.material_add(actor=staff["agent"], certification=cert, material_type=t,
                              upload=SimpleUploadedFile("a.pdf", PDF))
    services.certification_submit(actor=staff["agent"], certification=cert)
    notice = services.certification_return(actor=staff["reviewer"], certification=cert, missing=["test_report"])
    return cert, notice


def test_agent_pages_are_scoped_to_the_township(shiyan, staff, client):
    mine, theirs = f.insured(shiyan, township=0), f.insured(shiyan, township=1)
    cert, notice = _returned_case(staff, mine)
    client.force_login(staff["agent"])
    home = client.get("/agent/chronic/?q=" + mine.id_number)
    assert home.status_code == 200 and mine.name in home.content.decode()
    assert client.get("/agent/chronic/?q=" + theirs.id_number).content.decode().count(theirs.masked_id) == 0
    assert client.get(f"/agent/chronic/persons/{theirs.id_number}/").status_code == 404
    page = client.get(f"/agent/chronic/cases/{cert.pk}/").content.decode()
    assert "检查检验报告" in page and notice.number in page
    assert client.get(f"/agent/chronic/notices/{notice.number}/").status_code == 200
    material = cert.materials.first()
    assert client.get(f"/agent/chronic/materials/{material.pk}/").status_code == 200
    client.force_login(staff["agent_b"])
    assert client.get(f"/agent/chronic/cases/{cert.pk}/").status_code == 404
    assert client.get(f"/agent/chronic/notices/{notice.number}/").status_code == 404
    assert client.get(f"/agent/chronic/materials/{material.pk}/").status_code == 404
    resp = client.post(f"/agent/chronic/persons/{mine.id_number}/", {"disease": "M00501", "diagnosis": "C34"})
    assert resp.status_code == 404 and not Certification.objects.filter(disease__code="M00501").exists()


def test_agent_files_through_the_page(shiyan, staff, client):
    p = f.insured(shiyan)
    client.force_login(staff["agent"])
    resp = client.post(f"/agent/chronic/persons/{p.id_number}/", {"disease": "M00501", "diagnosis": "c50.9",
                                                                    "note": "乳腺癌"})
    cert = Certification.objects.get(person=p)
    assert resp.status_code == 302 and resp["Location"] == f"/agent/chronic/cases/{cert.pk}/"
    assert cert.diagnosis == "C50.9" and cert.filed_by == staff["agent"]
    client.post(f"/agent/chronic/cases/{cert.pk}/submit/")
    assert Certification.objects.get(pk=cert.pk).status == "draft"  # materials missing: refused, shown


def test_admin_pages_render_and_act(shiyan, staff, client):
    p = f.insured(shiyan)
    cert, _notice = _returned_case(staff, p)
    client.force_login(staff["supervisor"])
    for url in ("/admin/chronic/chronicdisease/", "/admin/chronic/certification/",
                "/admin/chronic/certification/?queue=expiring", f"/admin/chronic/certification/{cert.pk}/act/",
                "/admin/chronic/chronicdisease/import/"):
        assert client.get(url).status_code == 200, url
    client.force_login(staff["reviewer"])
    resp = client.post(f"/admin/chronic/certification/{cert.pk}/act/", {"action": "reject", "text": "材料不实"})
    # a returned case is not open: refused, the page shows why, nothing changes
    assert resp.status_code == 200 and "不能不予批准" in resp.content.decode()
    assert Certification.objects.get(pk=cert.pk).status == "returned"
    services.material_add(actor=staff["agent"], certification=cert, material_type="test_report",
                          upload=SimpleUploadedFile("a.pdf", PDF))
    services.certification_resubmit(actor=staff["agent"], certification=cert)
    resp = client.post(f"/admin/chronic/certification/{cert.pk}/act/", {"action": "reject", "text": "材料不实"})
    assert resp.status_code == 302 and Certification.objects.get(pk=cert.pk).status == "rejected"
    client.force_login(staff["agent"])
    assert client.get("/admin/chronic/certification/").status_code in (302, 403)


def test_overdue_task(shiyan, staff):
    p = f.insured(shiyan)
    cert = services.certification_create(actor=staff["agent"], person=p, disease="M00601", diagnosis="N18")
    for t in ("application_form", "id_card", "diagnosis"):
        services.material_add(actor=staff["agent"], certification=cert, material_type=t,
                              upload=SimpleUploadedFile("a.pdf", PDF))
    services.certification_submit(actor=staff["agent"], certification=cert, on=date(2024, 3, 1))
    assert flag_overdue("2024-04-01")["flagged"] == 1


def test_demo_certifies_some_persons_and_their_chronic_claims_name_the_disease(shiyan, staff, monkeypatch):
    import random
    from types import SimpleNamespace

    from chronic import demo as chronic_demo
    from claims import demo as claims_demo
    from claims.models import Claim

    for i in range(30):
        p = f.person(shiyan, township=i % 2)
        f.enrol(p, year=2025)
        f.enrol(p, year=2026)
    ctx = SimpleNamespace(rng=random.Random(7), jurisdiction=shiyan, today=date(2026, 3, 15), persons=30,
                          staff={"demo_clerk": staff["clerk"], "demo_reviewer": staff["reviewer"]},
                          log=lambda *a: None)
    monkeypatch.setattr(chronic_demo, "CERTIFIED_SHARE", 0.5)  # a small demo: enough chronic claims to check
    chronic_demo.seed(ctx)
    certified = Certification.objects.count()
    assert certified > 0
    chronic_demo.seed(ctx)
    assert Certification.objects.count() == certified  # once
    claims_demo.seed(ctx)
    chronic_claims = Claim.objects.filter(visit_type="chronic")
    assert chronic_claims.exists() and not chronic_claims.filter(disease="").exists()
    assert all(c.breakdown["chronic"]["certified"] for c in chronic_claims)
