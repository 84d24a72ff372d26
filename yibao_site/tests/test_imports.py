from django.core.management import call_command
import pytest

from yibao_site.imports import importer_for, read_table
from yibao_site.models import Region

GOOD = "code,name,level,parent\n110100,甲市,city,\n110101,乙区,county,110100\n110101001,丙镇,township,110101\n"


def test_a_good_file_lands_whole_and_a_second_import_changes_nothing(db, tmp_path):
    path = tmp_path / "regions.csv"
    path.write_text(GOOD, encoding="utf-8")
    call_command("import_data", "regions", str(path), "--quiet")
    town = Region.objects.get(code="110101001")
    assert town.path == "/110100/110101/110101001/"
    history = Region.history.count()
    call_command("import_data", "regions", str(path), "--quiet")
    assert Region.objects.count() == 3 and Region.history.count() == history


def test_a_bad_file_is_rejected_whole_with_row_numbers(db, tmp_path, capsys):
    path = tmp_path / "regions.csv"
    path.write_text(GOOD + "12,坏,village,110101001\n110101002,丁镇,township,999999\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_data", "regions", str(path), "--quiet")
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "第 5 行 code" in out and "第 6 行 parent" in out
    assert Region.objects.count() == 0


def test_gb18030_csv_from_excel_is_read(db, tmp_path):
    path = tmp_path / "regions.csv"
    path.write_bytes("区划代码,名称,层级,上级区划\n110100,甲市,city,\n".encode("gb18030"))
    report = importer_for("regions")().run(read_table(path))
    assert report.ok and report.created == 1


def test_duplicate_codes_in_one_file_are_reported(db):
    rows = [{"code": "110100", "name": "甲", "level": "city", "parent": ""}] * 2
    report = importer_for("regions")().run(rows)
    assert [str(e) for e in report.errors] == ["第 3 行 code: 与第 2 行重复。"]
