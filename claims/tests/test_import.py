"""``import_data claims``: platform settlement records, all or nothing, idempotent."""
from decimal import Decimal as D

import pytest
from django.core.management import call_command

from claims.models import Claim, ClaimSource, PersonYearLedger
from yibao_site.imports import importer_for

from . import factories as f

HEADER = "person,visit_type,hospital_level,service_date,total_cost,policy_scope_cost,in_province,referred," \
         "basic_paid,critical_paid,admission_date,external_ref\n"


def test_a_file_settles_in_service_date_order_and_a_second_import_changes_nothing(shiyan, tmp_path):
    """Employee outpatient pooling (deductible 500): the file lists April (300) before March
    (400); settled by date, March consumes 400 of the deductible → 0, April (300 − 100) × 80 %
    = 160."""
    p = f.insured(shiyan, scheme="employee", status="in_service")
    q = f.insured(shiyan)
    path = tmp_path / "claims.csv"
    path.write_text(HEADER
                    + f"{p.id_number},outpatient,1,2024-04-01,300,300,,,,,,H-2\n"
                    + f"{p.id_number},outpatient,1,2024-03-01,400,400,是,否,,,,H-1\n"
                    + f"{q.id_number},住院,2,2024-05-01,15000.00,12000.00,1,0,8625.00,0,2024-04-25,H-3\n",
                    encoding="utf-8")
    call_command("import_data", "claims", str(path), "--quiet")
    by_ref = {c.external_ref: c for c in Claim.objects.all()}
    assert by_ref["H-1"].basic_paid == 0 and by_ref["H-2"].basic_paid == D("160.00")
    assert by_ref["H-3"].platform_settled and by_ref["H-3"].source == ClaimSource.PLATFORM
    assert by_ref["H-3"].admission_date.isoformat() == "2024-04-25"
    history = Claim.history.count()
    report = importer_for("claims")().run([dict(zip(HEADER.strip().split(","), line.split(",")))
                                          for line in path.read_text().splitlines()[1:]])
    assert report.ok and report.unchanged == 3 and report.created == 0
    assert Claim.objects.count() == 3 and Claim.history.count() == history
    assert PersonYearLedger.objects.get(person=p).claims_count == 2


def test_a_bad_file_is_rejected_whole_with_row_numbers(shiyan, tmp_path, capsys):
    p = f.insured(shiyan)
    nobody = f.person(shiyan)
    path = tmp_path / "claims.csv"
    path.write_text(HEADER
                    + f"{p.id_number},inpatient,2,2024-05-01,1000,1000,,,,,,A-1\n"
                    + f"{p.id_number},inpatient,2,2024-05-02,100,200,,,,,,A-2\n"
                    + f"{nobody.id_number},inpatient,2,2024-05-03,100,100,,,,,,A-3\n"
                    + f"{p.id_number},dental,9,2024-02-30,-1,x,maybe,,,,,\n"
                    + f"{p.id_number},inpatient,2,2024-05-01,1000,1000,,,,,,A-1\n",
                    encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_data", "claims", str(path), "--quiet")
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    for expected in ("第 3 行 policy_scope_cost", "第 4 行 person", "第 5 行 service_date", "第 5 行 total_cost",
                     "第 5 行 in_province", "第 5 行 external_ref"):
        assert expected in out, (expected, out)
    assert not Claim.objects.exists() and not PersonYearLedger.objects.exists()


def test_a_serial_number_twice_in_one_file_is_reported(shiyan):
    p = f.insured(shiyan)
    row = {"person": p.id_number, "visit_type": "chronic", "hospital_level": "1", "service_date": "2024-06-01",
           "total_cost": "1000", "policy_scope_cost": "1000", "external_ref": "Z-1"}
    report = importer_for("claims")().run([row, dict(row)])
    assert [str(e) for e in report.errors] == ["第 3 行 external_ref: 与第 2 行重复。"]
    assert not Claim.objects.exists()


def test_settlement_errors_found_only_while_settling_still_write_nothing(shiyan):
    """Row 3's platform critical 5 000 exceeds what is left after the computed basic
    (10 000 − (10 000 − 500) × 75 % = 2 875): nothing of the file is written."""
    p = f.insured(shiyan)
    rows = [
        {"person": p.id_number, "visit_type": "inpatient", "hospital_level": "2", "service_date": "2024-05-01",
         "total_cost": "1000", "policy_scope_cost": "1000", "external_ref": "B-1"},
        {"person": p.id_number, "visit_type": "inpatient", "hospital_level": "2", "service_date": "2024-06-01",
         "total_cost": "10000", "policy_scope_cost": "10000", "critical_paid": "5000", "external_ref": "B-2"},
    ]
    report = importer_for("claims")().run(rows)
    assert not report.ok and "第 3 行 critical_paid" in str(report.errors[0])
    assert not Claim.objects.exists()


def test_a_changed_record_with_a_settled_serial_number_is_refused(shiyan):
    p = f.insured(shiyan)
    f.settle(p, total="1000", external_ref="C-1")
    report = importer_for("claims")().run([{"person": p.id_number, "visit_type": "inpatient", "hospital_level": "2",
                                            "service_date": "2024-06-01", "total_cost": "2000",
                                            "policy_scope_cost": "2000", "external_ref": "C-1"}])
    assert [e.field for e in report.errors] == ["external_ref"]


def test_dry_run_writes_nothing(shiyan):
    p = f.insured(shiyan)
    rows = [{"person": p.id_number, "visit_type": "chronic", "hospital_level": "1", "service_date": "2024-06-01",
             "total_cost": "1000", "policy_scope_cost": "1000", "external_ref": "D-1"}]
    report = importer_for("claims")().run(rows, dry_run=True)
    assert report.ok and not Claim.objects.exists()


def test_an_agent_or_scoped_clerk_imports_only_persons_in_scope(shiyan, yicheng):
    from yibao_site.services import staff_save

    clerk = staff_save(username="yc", role="window_clerk", region_code=yicheng.county.code)
    p = f.insured(shiyan)
    rows = [{"person": p.id_number, "visit_type": "chronic", "hospital_level": "1", "service_date": "2024-06-01",
             "total_cost": "1000", "policy_scope_cost": "1000", "external_ref": "E-1"}]
    report = importer_for("claims")(user=clerk).run(rows)
    assert [e.field for e in report.errors] == ["person"]


def _outcome():
    """What an import leaves behind, keyed by serial number / (person, year): claims (every
    column but ids and timestamps), ledgers, history rows."""
    skip = {"id", "settled_at", "created_at", "updated_at"}
    claims = {c["external_ref"]: {k: v for k, v in c.items() if k not in skip} for c in Claim.objects.values()}
    ledgers = {(r["person_id"], r["year"]): {k: v for k, v in r.items() if k not in skip}
               for r in PersonYearLedger.objects.values()}
    history = sorted((h.external_ref, h.history_type, h.history_change_reason or "", h.basic_paid)
                     for h in Claim.history.all())
    return claims, ledgers, history


def test_the_import_writes_what_the_batch_writes_for_the_same_rows(shiyan, monkeypatch):
    """The importer hands the batch the persons it has read (no person query per chunk), reads
    plain amounts without the generic parser and pauses the collector for the whole file: the
    claims, ledgers and history are exactly those of the path before — the batch reading the
    persons itself, every amount through ``money_value`` — over several chunks, for persons of
    several townships, rows out of date order, a second year."""
    from django.db import transaction

    from claims import importers, services

    people = [f.insured(shiyan, township=t % 2, scheme="employee" if t == 3 else "resident",
                        status="in_service" if t == 3 else "") for t in range(5)]
    f.identity(people[1], "subsistence")
    f.enrol(people[0], year=2025)
    rows = []
    for k in range(23):
        p = people[k % len(people)]
        visit = ("inpatient", "outpatient", "chronic")[k % 3]
        year = 2025 if p is people[0] and k % 2 else 2024
        rows.append({"person": p.id_number, "visit_type": visit, "hospital_level": str(1 + k % 3),
                     "service_date": f"{year}-{12 - k % 12:02d}-{1 + k % 27:02d}", "total_cost": f"{800 + 937 * k}.50",
                     "policy_scope_cost": f"{700 + 900 * k}.25", "admission_date": "", "external_ref": f"S-{k}",
                     "in_province": "否" if k == 7 else "", "referred": "是" if k == 7 else ""})
    monkeypatch.setattr(importers.ClaimImporter, "batch_size", 4)
    with transaction.atomic():
        report = importer_for("claims")().run(rows)
        assert report.ok and report.created == len(rows), report.errors
        new = _outcome()
        transaction.set_rollback(True)
    settle = services.claims_settle_batch

    def reading_persons_itself(*, persons=None, **kwargs):
        return settle(**kwargs)

    monkeypatch.setattr(services, "claims_settle_batch", reading_persons_itself)
    monkeypatch.setattr(importers, "_PLAIN_MONEY", lambda text: None)
    report = importer_for("claims")().run(rows)
    assert report.ok and report.created == len(rows), report.errors
    assert _outcome() == new
