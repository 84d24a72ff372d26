"""Catalogue from the packs, supervisor edits, and the two imports (all-or-nothing, idempotent)."""
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied

from chronic import services
from chronic.models import Certification, CertificationStatus, ChronicDisease
from claims.tests import factories as f
from yibao_site.imports import importer_for
from yibao_site.packs import pack_load

pytestmark = pytest.mark.django_db


def test_both_packs_ship_a_catalogue_and_a_second_load_changes_nothing(shiyan, yicheng):
    yc = {d.code: d for d in ChronicDisease.objects.filter(region=yicheng.city)}
    sy = {d.code: d for d in ChronicDisease.objects.filter(region=shiyan.city)}
    # Yicheng: the diseases the seeds name are not illustrative (000 两病, 002 肺结核、慢性病毒性肝炎)
    assert {c for c, d in yc.items() if not d.illustrative} == {"M00101", "M00201", "M00301", "M00401"}
    assert yc["M00101"].icd10 == ["I10-I15"] and yc["M00501"].separate_drug_payment
    assert len(sy) == 7 and not sy["M00601"].illustrative and sy["M00101"].illustrative
    before = ChronicDisease.history.count()
    pack_load(name="yicheng-2024", region=yicheng.city)
    assert ChronicDisease.history.count() == before


def test_a_supervisor_edit_survives_a_pack_reload(yicheng, staff):
    disease = ChronicDisease.objects.get(region=yicheng.city, code="M00801")
    disease.name = "重性精神病(含双相障碍)"
    with pytest.raises(PermissionDenied):
        services.disease_save(actor=staff["reviewer"], disease=disease)
    services.disease_save(actor=staff["supervisor"], disease=disease)
    pack_load(name="yicheng-2024", region=yicheng.city)
    assert ChronicDisease.objects.get(pk=disease.pk).name == "重性精神病(含双相障碍)"
    pack_load(name="yicheng-2024", region=yicheng.city, overwrite=True)
    assert ChronicDisease.objects.get(pk=disease.pk).name == "重性精神病"


def test_catalogue_import_is_all_or_nothing_and_idempotent(yicheng, staff):
    rows = [
        {"region": "370404", "code": "M00901", "name": "冠心病", "icd10": "I20-I25", "valid_from": "2025-01-01",
         "separate_drug_payment": "否"},
        {"region": "370404", "code": "M00902", "name": "帕金森病", "icd10": "G20", "valid_from": "2025-01-01"},
    ]
    bad = [*rows, {"region": "370404", "code": "M00903", "name": "错", "icd10": "XX-YY", "valid_from": "2025-01-01"}]
    report = importer_for("chronic_diseases")(actor=staff["supervisor"]).run(bad)
    assert [str(e) for e in report.errors][0].startswith("第 4 行 icd10")
    assert not ChronicDisease.objects.filter(code__startswith="M009").exists()
    assert not importer_for("chronic_diseases")(actor=staff["reviewer"]).run(rows).ok
    first = importer_for("chronic_diseases")(actor=staff["supervisor"]).run(rows)
    second = importer_for("chronic_diseases")(actor=staff["supervisor"]).run(rows)
    assert (first.created, second.created, second.unchanged) == (2, 0, 2)
    # a county row: persons of the county see it from 2025 on, not before
    from chronic.selectors import catalogue_in_force
    village = yicheng.village()
    assert "M00901" in {d.code for d in catalogue_in_force(village, date(2025, 2, 1))}
    assert "M00901" not in {d.code for d in catalogue_in_force(village, date(2024, 12, 31))}


def test_hospital_certification_import(yicheng, staff):
    """Decided by 峄城区人民医院 on 2024-02-01: approved, valid 2024-02-01 … 2025-01-31;
    the same file again changes nothing; a row with a non-designated hospital fails the file."""
    p, q = f.insured(yicheng), f.insured(yicheng, township=1)
    rows = [{"person": p.id_number, "disease": "M00201", "diagnosis": "E11.9", "hospital_code": "H37040401",
             "decided_on": "2024-02-01", "reference": "RD-1"},
            {"person": q.id_number, "disease": "M00101", "diagnosis": "I11", "hospital_code": "H37040402",
             "decided_on": "2024-02-03"}]
    bad = [*rows, {"person": p.id_number, "disease": "M00301", "diagnosis": "A15", "hospital_code": "H1",
                   "decided_on": "2024-02-01"}]
    report = importer_for("chronic_certifications")(actor=staff["reviewer"]).run(bad)
    assert [e.field for e in report.errors] == ["hospital_code"] and report.errors[0].row == 4
    assert not Certification.objects.exists()
    assert not importer_for("chronic_certifications")(actor=staff["agent"]).run(rows).ok
    assert not importer_for("chronic_certifications")().run(rows).ok  # the command needs --user
    first = importer_for("chronic_certifications")(actor=staff["reviewer"]).run(rows)
    second = importer_for("chronic_certifications")(actor=staff["reviewer"]).run(rows)
    assert first.ok and (first.created, second.created, second.unchanged) == (2, 0, 2)
    cert = Certification.objects.get(person=p)
    assert (cert.status, cert.channel, cert.valid_from, cert.valid_to, cert.hospital_name) == (
        CertificationStatus.APPROVED, "hospital", date(2024, 2, 1), date(2025, 1, 31), "峄城区人民医院")
    assert cert.events.get().action == "import"
    claim = f.settle(p, visit_type="chronic", level=2, on=date(2024, 3, 1), total="1000", disease="M00201")
    assert str(claim.basic_paid) == "650.00"


def test_agent_import_command_takes_a_user(yicheng, staff, tmp_path):
    from django.core.management import call_command

    p = f.insured(yicheng)
    path = tmp_path / "c.csv"
    path.write_text("公民身份号码,病种编码,诊断编码,认定医院编码,认定日期\n"
                    f"{p.id_number},M00101,I10,H37040401,2024-02-01\n", encoding="utf-8")
    call_command("import_data", "chronic_certifications", str(path), "--user", "reviewer", "--quiet")
    assert Certification.objects.filter(person=p, status="approved").count() == 1
