"""Every chronic write service refuses a missing caller, a role outside its own and a scheduled
job where it does not take one — before it reads the case (yibao_site.actors.require_actor)."""
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile

from chronic import services
from chronic.models import Certification, CertificationEvent, ChronicDisease
from chronic.tasks import flag_overdue
from claims.tests import factories as f
from yibao_site.actors import system_actor

pytestmark = pytest.mark.django_db
JOB = system_actor("chronic.flag_overdue")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_filing_refuses_nobody_a_job_and_the_back_office(shiyan, staff):
    p = f.insured(shiyan)
    for actor in (None, JOB, staff["reviewer"], staff["finance"]):
        with pytest.raises(PermissionDenied):
            services.certification_create(actor=actor, person=p, disease="M00501", diagnosis="C34.9")
    assert not Certification.objects.exists()
    cert = services.certification_create(actor=staff["agent"], person=p, disease="M00501", diagnosis="C34.9")
    upload = SimpleUploadedFile("诊断证明.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    for actor in (None, JOB, staff["finance"]):
        with pytest.raises(PermissionDenied):
            services.material_add(actor=actor, certification=cert, material_type="diagnosis", upload=upload)
    assert not cert.materials.exists()


def test_decisions_take_a_reviewer_and_nobody_else(shiyan, staff):
    p = f.insured(shiyan)
    cert = services.certification_create(actor=staff["agent"], person=p, disease="M00501", diagnosis="C34.9")
    for actor in (None, JOB, staff["clerk"], staff["supervisor"]):
        for decide in (services.certification_approve, services.certification_review):
            with pytest.raises(PermissionDenied):
                decide(actor=actor, certification=cert)
        for decide in (services.certification_reject, services.certification_revoke):
            with pytest.raises(PermissionDenied):
                decide(actor=actor, certification=cert, reason="不符合")
    cert.refresh_from_db()
    assert cert.status == "draft" and CertificationEvent.objects.filter(certification=cert).count() == 1


def test_the_overdue_job_and_the_catalogue_name_their_caller(shiyan, staff):
    for actor in (None, staff["reviewer"]):
        with pytest.raises(PermissionDenied):
            services.certifications_flag_overdue(actor=actor, on=date(2024, 4, 1))
    assert flag_overdue("2024-04-01") == {"as_of": "2024-04-01", "flagged": 0, "cleared": 0}
    entry = {"code": "T001", "name": "测试病种", "icd10": ["I10"], "effective_from": date(2024, 1, 1)}
    for actor in (None, staff["reviewer"]):
        with pytest.raises(PermissionDenied):
            services.catalogue_upsert(region=shiyan.city, entries=[entry], actor=actor)
    assert not ChronicDisease.objects.filter(code="T001").exists()
    assert services.catalogue_upsert(region=shiyan.city, entries=[entry], actor=system_actor("policy.pack_load")) == (
        1, 0, 0)
