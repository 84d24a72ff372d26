"""The import engine's fast paths give what the plain ones give (issue 14)."""
import csv
import io
import unicodedata

import pytest

from yibao_site.imports import _normalise, _normalised_digits, _read_csv, _screen_rows, _unsafe_cells
from yibao_site.inputs import has_foreign_digits


def test_foreign_digits_regex_equals_the_unicode_rule():
    for cp in range(0x110000):
        ch = chr(cp)
        expected = not ch.isascii() and not "\uff10" <= ch <= "\uff19" and unicodedata.decimal(ch, None) is not None
        assert has_foreign_digits(ch) is expected, hex(cp)
    assert has_foreign_digits("张三٣") and not has_foreign_digits("张三１２")


@pytest.mark.parametrize("text", ["", "\n", "\n\na,b\n1,2\n", "a, b ,a\n1,2,3\n\n4\n5,6,7,8\n",
                                  'a,b\n" x ","y\nz"\n,\n', "a\n", "a,b\r\n1,2\r\n", "姓名,村\n 张三 ,420302001001\n"])
def test_csv_reader_equals_dictreader(text):
    expected = [{(k or "").strip(): _normalise(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]
    assert _read_csv(text) == expected


def test_screen_rows_equals_cell_by_cell():
    rows = [{"a": "420302", "b": "张三"}, {"a": "４２０３", "b": "=1+1"}, {"a": "１２３", "b": "李四"},
            {"a": "-5", "b": "x\x00"}, {"a": "٣", "b": None}, {"a": 3, "b": ""}, {"a": "+1", "b": "@x"}]
    out, unsafe = _screen_rows(rows)
    expected_unsafe = {i: bad for i, row in enumerate(rows) if (bad := _unsafe_cells(row))}
    assert unsafe == expected_unsafe
    assert out == [row if i in expected_unsafe else _normalised_digits(row) for i, row in enumerate(rows)]
    assert out[2] == {"a": "123", "b": "李四"} and out[0] is rows[0]


def test_any_lookup_array_literal_round_trips(db):
    """``field__any`` sends ints and strings as one array literal on PostgreSQL: every text
    survives (quotes, backslashes, commas, braces, the word NULL), and mixed lists take the
    driver's path."""
    from yibao_site.lookups import array_literal
    from yibao_site.models import Region

    assert array_literal([1, 2, 3]) == "{1,2,3}" and array_literal([1, "2"]) is None and array_literal([]) is None
    codes = ['a"b', "c\\d", "e,f", "{g}", "NULL", " h ", "中文"]
    for i, code in enumerate(codes):
        Region.objects.create(code=code, name=f"r{i}", level="village", path=f"/x{i}/")
    assert sorted(Region.objects.filter(code__any=codes).values_list("code", flat=True)) == sorted(codes)
    pks = list(Region.objects.filter(code__any=codes).values_list("pk", flat=True))
    assert Region.objects.filter(pk__any=pks).count() == len(codes)


def test_any_lookup_skips_preparation_only_for_plain_keys():
    from members.models import Enrollment, Person
    from yibao_site.lookups import _plain

    assert _plain(Enrollment._meta.get_field("person"), [1, 2])
    assert not _plain(Enrollment._meta.get_field("person"), [1, "2"])
    assert not _plain(Enrollment._meta.get_field("person"), [True])
    assert _plain(Person._meta.get_field("id_number"), ["420302"])
    assert not _plain(Person._meta.get_field("id_number"), [420302])
    assert not _plain(Person._meta.get_field("birth_date"), ["2020-01-01"])
