"""Spreadsheet safety: formulas refused on import and escaped on export; uploads bounded
(size, unpacked size, rows) before anything parses them."""
import io
import zipfile
from datetime import date
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from openpyxl import Workbook, load_workbook

from members.models import Person
from members.tests.factories import register
from members.tests.test_importers import HEADER, csv_bytes, person_rows, run
from yibao_site.imports import check_upload, read_table
from members.testing import clerk

CALC = "=cmd|' /C calc'!A0"


def _xlsx(rows) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_a_person_named_like_a_formula_is_refused_and_nothing_imported(shiyan):
    rows = person_rows(shiyan, 3)
    rows[1][1] = CALC
    report = run("persons", csv_bytes(HEADER, rows))
    assert not report.ok and [(e.row, e.field) for e in report.errors] == [(3, "name")]
    assert "公式" in report.errors[0].message
    assert not Person.objects.exists()


@pytest.mark.parametrize("cell", ["@SUM(1+1)*cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-1+1", "\t=1"])
def test_every_formula_prefix_is_refused(shiyan, cell):
    rows = person_rows(shiyan, 1)
    rows[0][3] = cell  # phone
    report = run("persons", csv_bytes(HEADER, rows))
    assert not report.ok and report.errors[0].field == "phone"


def test_the_command_exits_non_zero_on_a_formula(shiyan, tmp_path):
    rows = person_rows(shiyan, 2)
    rows[0][1] = CALC
    f = tmp_path / "p.csv"
    f.write_bytes(csv_bytes(HEADER, rows))
    with pytest.raises(SystemExit) as exit_:
        call_command("import_data", "persons", str(f), "--dry-run")
    assert exit_.value.code != 0


def test_a_real_formula_cell_in_an_xlsx_is_read_as_a_formula_and_refused(shiyan):
    rows = person_rows(shiyan, 1)
    rows[0][1] = "=1+1"  # openpyxl stores it as a formula cell
    report = run("persons", _xlsx([HEADER, *rows]))
    assert not report.ok and report.errors[0].field == "name"


def test_full_width_codes_in_a_file_are_read_as_ascii(shiyan):
    rows = person_rows(shiyan, 1)
    rows[0][2] = rows[0][2].translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    report = run("persons", csv_bytes(HEADER, rows))
    assert report.ok, report.errors
    assert Person.objects.get().village.code == person_rows(shiyan, 1)[0][2]


def test_a_zip_bomb_xlsx_is_refused_before_it_is_unpacked(settings):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"<c>0</c>" * (20 * 1024 * 1024))  # 160 MB of cells
    data = out.getvalue()
    assert len(data) < 1024 * 1024
    opened = []
    real_open = zipfile.ZipFile.open

    def watch(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    with mock.patch.object(zipfile.ZipFile, "open", watch), pytest.raises(ValidationError, match="压缩炸弹"):
        read_table(data, filename="bomb.xlsx")
    assert "xl/worksheets/sheet1.xml" not in opened  # refused from the zip directory, not by unpacking


def test_a_file_over_the_size_bound_is_refused(settings):
    settings.IMPORT_MAX_BYTES = 1000
    with pytest.raises(ValidationError, match="文件过大"):
        check_upload(b"x" * 1001, "big.csv")


def test_a_file_over_the_row_bound_is_refused(settings, shiyan):
    settings.IMPORT_MAX_ROWS = 2
    with pytest.raises(ValidationError, match="行数超过"):
        read_table(csv_bytes(HEADER, person_rows(shiyan, 3)), filename="x.csv")
    with pytest.raises(ValidationError, match="行数超过"):
        read_table(_xlsx([HEADER, *person_rows(shiyan, 3)]), filename="x.xlsx")


def test_the_admin_import_refuses_a_zip_bomb_with_a_clear_message(shiyan, staff, client):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"<c>0</c>" * (4 * 1024 * 1024))
    out.seek(0)
    out.name = "bomb.xlsx"
    client.force_login(staff["clerk"])
    res = client.post("/admin/members/person/import/", {"resource": "0", "format": "1", "import_file": out})
    assert res.status_code == 200
    assert "压缩炸弹" in res.content.decode()


def test_the_admin_export_escapes_a_formula_name(shiyan, staff, client):
    person = register(shiyan, name=CALC) if "name" in register.__code__.co_varnames else None
    if person is None:
        person = register(shiyan)
        Person.objects.filter(pk=person.pk).update(name=CALC)
    client.force_login(staff["supervisor"])
    res = client.post("/admin/members/person/export/", {"format": "1", "resource": "0", **{
        f"personresource_{f}": "on" for f in ("id_number", "name")}})
    if res.status_code == 200 and res["Content-Type"].startswith("text/html"):
        res = client.post("/admin/members/person/export/", {"format": "1"})
    assert res.status_code == 200, res.content[:500]
    book = load_workbook(io.BytesIO(res.content))
    values = [c.value for row in book.active.iter_rows() for c in row]
    assert "'" + CALC in values and CALC not in values


def test_the_subsidy_batch_workbook_escapes_a_formula_name(shiyan):
    """A name that got in before this rule (or through another door) is still inert."""
    from members import services
    from members.exports import subsidy_batch_xlsx

    person = register(shiyan)
    Person.objects.filter(pk=person.pk).update(name=CALC)
    services.identity_add(actor=clerk(), person=person, kind="extreme_poverty", valid_from=date(2020, 1, 1), valid_to=None,
                          source="civil_affairs")
    batch = services.subsidy_batch_build(actor=clerk(), region=shiyan.city, year=2024)
    book = load_workbook(io.BytesIO(subsidy_batch_xlsx(batch)))
    values = [c.value for row in book.worksheets[0].iter_rows() for c in row]
    assert "'" + CALC in values and CALC not in values


def test_excel_safe_rows_escape_text_only():
    from decimal import Decimal

    from yibao_site.inputs import excel_safe_row

    assert excel_safe_row([CALC, "张三", "-5", 3, Decimal("-5")]) == ["'" + CALC, "张三", "'-5", 3, Decimal("-5")]
