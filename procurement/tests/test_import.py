"""The ``deliveries`` importer: all-or-nothing, row-numbered errors, idempotent, CSV and XLSX."""
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from django.core.management import call_command
from openpyxl import Workbook

from procurement.models import Delivery, DeliveryStatus
from yibao_site.imports import importer_for, read_table

HEADER = "hospital,supplier,product,quantity,amount,delivered_on,invoice_number,accepted_on,accepted_quantity\n"


def _run(text: str, **kw):
    return importer_for("deliveries")().run(read_table(text.encode("utf-8"), filename="d.csv"), **kw)


def test_import_registers_and_accepts_deliveries_and_a_second_import_changes_nothing(world):
    """Row 2: 100 × 12.34 = 1 234.00 accepted in full → payable, due 2 Mar + 30 = 1 Apr.
    Row 3: 10 stents invoiced 5 900.00, 8 accepted (4 720.00) → held, mismatch 1 180.00.
    Row 4: delivered only."""
    text = HEADER + (
        "H001,S001,P001,100,1234.00,2024-03-01,INV-1,2024-03-02,\n"
        "H002,S002,P002,10,5900.00,2024-03-01,INV-2,2024-03-03,8\n"
        "H001,S001,P003,5,15.00,2024-03-04,INV-3,,\n"
    )
    report = _run(text)
    assert report.ok, [str(e) for e in report.errors]
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    d1, d2, d3 = (Delivery.objects.get(invoice_number=f"INV-{i}") for i in (1, 2, 3))
    assert (d1.status, d1.due_on, d1.accepted_amount) == (DeliveryStatus.ACCEPTED, date(2024, 4, 1), Decimal("1234.00"))
    assert (d2.status, d2.accepted_amount, d2.mismatch) == (DeliveryStatus.HELD, Decimal("4720.00"), Decimal("1180.00"))
    assert d3.status == DeliveryStatus.DELIVERED and d3.unit_price == Decimal("3.00")
    assert d1.history.count() == 1

    again = _run(text)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert Delivery.history.count() == 3

    accept_later = _run(HEADER + "H001,S001,P003,5,15.00,2024-03-04,INV-3,2024-03-05,5\n")
    assert (accept_later.updated, Delivery.objects.get(invoice_number="INV-3").status) == (1, DeliveryStatus.ACCEPTED)


def test_a_bad_row_writes_nothing_and_reports_every_problem_by_row(world):
    text = HEADER + (
        "H001,S001,P001,100,1234.00,2024-03-01,INV-1,2024-03-02,\n"
        "H404,S001,P001,0,12.345,2024-13-01,INV-2,,\n"
        "H001,S002,P001,1,12.34,2024-03-01,INV-3,2024-02-01,\n"
        "H001,S001,P001,1,12.34,2024-03-01,INV-1,,\n"
        "H001,S001,P001,1,12.34,2024-03-01,INV-5,2024-03-02,2\n"
    )
    report = _run(text)
    assert not report.ok
    found = {(e.row, e.field) for e in report.errors}
    assert {(3, "hospital"), (3, "quantity"), (3, "amount"), (3, "delivered_on"), (4, "supplier"),
            (6, "accepted_quantity")} <= found
    assert not Delivery.objects.exists()


def test_duplicate_invoice_in_the_file_is_reported(world):
    report = _run(HEADER + "H001,S001,P001,1,12.34,2024-03-01,X,,\nH001,S001,P001,2,24.68,2024-03-01,X,,\n")
    assert [(e.row, e.field) for e in report.errors] == [(3, "invoice_number")]
    assert not Delivery.objects.exists()


def test_an_accepted_delivery_cannot_be_changed_by_a_later_import(world):
    _run(HEADER + "H001,S001,P001,100,1234.00,2024-03-01,INV-1,2024-03-02,\n")
    report = _run(HEADER + "H001,S001,P001,90,1110.60,2024-03-01,INV-1,2024-03-02,\n")
    assert [(e.row, e.field) for e in report.errors] == [(2, "invoice_number")]
    assert Delivery.objects.get().quantity == 100


def test_chinese_headers_and_xlsx(world):
    wb = Workbook()
    ws = wb.active
    ws.append(["医疗机构编码", "企业编码", "产品编码", "配送数量", "发票金额", "配送日期", "发票号", "验收日期", "验收数量"])
    ws.append(["H001", "S001", "P001", 10, 123.4, date(2024, 3, 1), "X-1", date(2024, 3, 2), 10])
    buf = BytesIO()
    wb.save(buf)
    report = importer_for("deliveries")().run(read_table(buf.getvalue(), filename="d.xlsx"))
    assert report.ok, [str(e) for e in report.errors]
    d = Delivery.objects.get()
    assert (d.amount, d.status) == (Decimal("123.40"), DeliveryStatus.ACCEPTED)


def test_dry_run_validates_without_writing(world):
    report = _run(HEADER + "H001,S001,P001,1,12.34,2024-03-01,X,,\n", dry_run=True)
    assert report.ok and not Delivery.objects.exists()


def test_import_data_command(world, tmp_path, capsys):
    f = tmp_path / "d.csv"
    f.write_text(HEADER + "H001,S001,P001,1,12.34,2024-03-01,X,,\n", encoding="utf-8")
    call_command("import_data", "deliveries", str(f), "--dry-run")
    assert not Delivery.objects.exists()
    call_command("import_data", "deliveries", str(f))
    assert Delivery.objects.count() == 1
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "H001,S001,P001,x,12.34,2024-03-01,Y,,\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        call_command("import_data", "deliveries", str(bad))
    assert exit_.value.code != 0 and Delivery.objects.count() == 1


def test_control_characters_are_refused_not_a_crash(world):
    report = _run(HEADER + "H001\x00,S001,P001,1,12.34,2024-03-01,X\x00,,\n")
    assert {e.field for e in report.errors} >= {"hospital", "invoice_number"}
    assert not Delivery.objects.exists()
